"""The mail engine's pure and storage parts: group commit, IDs, verdicts, journal, work queue."""

from __future__ import annotations

import asyncio
import base64
import email
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select, text

from engine.config.changes import AddPolicy, SetTdc, SetThreatDefense, replay
from engine.config.model import Config, Direction, ScanAction, TdcMode
from engine.mail.journal import attached_original, journal_copy
from engine.mail.verdicts import EICAR, GTUBE, scan
from engine.mail.work_queue import Accepted, process, tag_subject
from engine.store.database import Store
from engine.store.group_commit import GroupCommitWriter
from engine.store.ids import IdAllocator
from engine.store.models import TrackingEventRow

INTAKE = "33c48e-27xp9-05ecb4@beta.cmd.cisco.com"
CUSTOM = "8f2d11-93kq2-c1a0e7@mail.eu.cmd.cisco.com"


@pytest.fixture
def store(data_dir):
    store = Store.open(data_dir)
    yield store
    store.close()


def _event(mid: int, note: str):
    table = TrackingEventRow.__table__
    return lambda conn: conn.execute(insert(table).values(mid=mid, at=0.0, text=note)).rowcount


def test_group_commit_batches_and_answers_every_caller(store):
    writer = GroupCommitWriter(store.engine)

    async def many():
        return await asyncio.gather(*[writer.submit(_event(n, f"e{n}")) for n in range(300)])

    results = asyncio.run(many())
    writer.close()
    assert results == [1] * 300
    assert writer.jobs == 300 and writer.batches < 300  # several callers shared a commit
    with store.engine.connect() as conn:
        assert conn.execute(text("select count(*) from tracking_events")).scalar() == 300


def test_one_failing_job_does_not_sink_its_batch(store):
    writer = GroupCommitWriter(store.engine)

    def broken(conn):
        conn.execute(insert(TrackingEventRow.__table__).values(mid=1, at=0.0, text="partial"))
        raise RuntimeError("disk says no")

    async def mixed():
        return await asyncio.gather(writer.submit(_event(1, "ok-a")), writer.submit(broken),
                                    writer.submit(_event(2, "ok-b")), return_exceptions=True)

    a, failed, b = asyncio.run(mixed())
    writer.close()
    assert (a, b) == (1, 1) and isinstance(failed, RuntimeError)
    with store.engine.connect() as conn:
        texts = {row.text for row in conn.execute(select(TrackingEventRow.__table__.c.text))}
    assert texts == {"ok-a", "ok-b"}  # the failed job's own write was rolled back


def test_ids_grow_across_restarts_and_are_never_reused(store, data_dir):
    ids = IdAllocator(store.engine, block=5)
    first = [ids.next("mid") for _ in range(7)]
    assert first == list(range(1, 8)) and ids.current("mid") == 7
    again = IdAllocator(Store.open(data_dir).engine, block=5)  # as after a crash
    assert again.next("mid") > 7
    assert again.next("icid") > ids.current("icid")


def test_verdicts_find_the_test_strings_also_in_attachments():
    assert scan(b"Subject: x\r\n\r\nhello\r\n") == scan(b"") and not scan(b"").spam
    assert scan(b"Subject: x\r\n\r\n" + GTUBE + b"\r\n").spam
    attachment = base64.encodebytes(EICAR).replace(b"\n", b"\r\n")
    assert scan(b"Content-Transfer-Encoding: base64\r\n\r\n" + attachment).virus == "EICAR-AV-Test"


def test_journal_carries_the_original_byte_for_byte():
    original = (b"From: a@x.org\r\nTo: b@example.com\r\nSubject: caf\xc3\xa9\r\n"
                b"Message-ID: <1@x>\r\n\r\nhello\r\n.leading dot\r\n")
    copy = journal_copy(original, gateway="gw.example.com", intake=INTAKE, mid=5, original_mid=4,
                        original_message_id="<1@x>", when=datetime.now(UTC))
    assert attached_original(copy) == original
    parsed = email.message_from_bytes(copy)
    assert [p.get_content_type() for p in parsed.get_payload()] == ["text/plain", "message/rfc822"]
    assert parsed.get_payload()[1].get_payload()[0]["Message-ID"] == "<1@x>"
    assert parsed["To"] == f"<{INTAKE}>"
    assert attached_original(b"Subject: not a journal\r\n\r\nx") is None


def _config() -> Config:
    return replay(Config(), [
        SetTdc(True, INTAKE),
        AddPolicy(Direction.INCOMING, "sales", recipients=("@sales.example.com",)),
        SetThreatDefense(Direction.INCOMING, "sales", TdcMode.CUSTOM, CUSTOM),
        SetThreatDefense(Direction.INCOMING, "DEFAULT", TdcMode.DEFAULT),
    ])


def _accepted(body: bytes, *recipients: str) -> Accepted:
    return Accepted(mid=10, icid=3, sender="alice@example.org", recipients=recipients, body=body,
                    received_at=0.0, message_id="<m@x>", subject="s")


def test_split_by_policy_and_journal_per_policy():
    log: list[str] = []
    mids = iter(range(11, 20))
    outcome = process(_accepted(b"Subject: s\r\n\r\nclean\r\n", "bob@example.com",
                                "sue@sales.example.com", "tim@example.com"),
                      _config(), lambda: next(mids), log.append)
    first, second = outcome.parts  # in the order of each policy's first recipient
    assert (first.mid, first.policy.name, first.origin_mid) == (10, "DEFAULT", None)
    assert first.recipients == [(0, "bob@example.com"), (2, "tim@example.com")]
    assert (second.mid, second.policy.name, second.origin_mid) == (11, "sales", 10)
    assert second.recipients == [(1, "sue@sales.example.com")]
    assert (first.journal_to, second.journal_to) == (INTAKE, CUSTOM)
    assert "MID 10 was split creating MID 11 due to a per-recipient policy sales in the inbound table" in log
    assert "MID 11 matched all recipients for per-recipient policy sales in the inbound table" in log


def test_spam_and_virus_are_not_journaled():
    config = _config()
    spam = process(_accepted(b"Subject: s\r\n\r\n" + GTUBE + b"\r\n", "bob@example.com"),
                   config, lambda: 99, lambda _line: None).parts[0]
    assert spam.delivered and not spam.clean and spam.journal_to is None
    assert b"Subject: [SPAM] s" in spam.body
    virus = process(_accepted(b"Subject: s\r\n\r\n" + EICAR + b"\r\n", "bob@example.com"),
                    config, lambda: 99, lambda _line: None).parts[0]
    assert not virus.delivered and virus.journal_to is None


def test_tdc_globally_disabled_journals_nothing():
    config = replay(_config(), [SetTdc(False)])
    part = process(_accepted(b"Subject: s\r\n\r\nclean\r\n", "bob@example.com"), config,
                   lambda: 99, lambda _line: None).parts[0]
    assert part.clean and part.journal_to is None


def test_spam_action_bounce_and_disabled_scanning():
    config = _config()
    config.incoming.default.antispam.action = ScanAction.BOUNCE
    part = process(_accepted(GTUBE, "bob@example.com"), config, lambda: 99, lambda _l: None).parts[0]
    assert not part.delivered and part.bounce_reason.startswith("5.7.1")
    config.incoming.default.antispam.enabled = False
    part = process(_accepted(GTUBE, "bob@example.com"), config, lambda: 99, lambda _l: None).parts[0]
    assert part.delivered and part.clean and part.journal_to == INTAKE


def test_tag_subject_adds_a_subject_when_missing():
    assert tag_subject(b"From: a\r\n\r\nbody", "[SPAM]") == b"From: a\r\nSubject: [SPAM]\r\n\r\nbody"


def test_ids_keep_growing_when_the_writer_answers_after_the_block_ran_out(store):
    """The writer committed the block reserved ahead, but the loop ran out of numbers before
    its answer came and reserved the next block itself: the late answer's block is below
    the one in use and must not be handed out afterwards (it was: 21..30, then 11..20)."""
    import time

    writer = GroupCommitWriter(store.engine)

    async def hand_out() -> list[int]:
        ids = IdAllocator(store.engine, block=10, writer=writer)  # 1..10
        got = [ids.next("mid") for _ in range(9)]  # the next block is asked of the writer
        writer.hand_over()  # (a loop turn's jobs reach it at the turn's end: this one is held)
        deadline = time.monotonic() + 10
        while writer.batches < 1 and time.monotonic() < deadline:
            time.sleep(0.01)  # the loop is held: the writer's answer waits on it
        assert writer.batches == 1  # committed: 11..20 is reserved in the store
        got += [ids.next("mid") for _ in range(3)]  # 10, then a block of the loop's own
        await asyncio.sleep(0.05)  # now the late answer comes
        got += [ids.next("mid") for _ in range(25)]
        return got

    try:
        got = asyncio.run(hand_out())
    finally:
        writer.close()
    assert got == sorted(set(got)), got


def test_ids_reserve_the_next_block_ahead_through_the_writer(store, data_dir, monkeypatch):
    writer = GroupCommitWriter(store.engine)
    waited_on_the_loop = []

    async def hand_out():
        ids = IdAllocator(store.engine, block=10, writer=writer)
        # From now on, a reservation made on the loop (the fallback) would be noted.
        real = IdAllocator._reserve_now
        monkeypatch.setattr(IdAllocator, "_reserve_now",
                            lambda self, kind: waited_on_the_loop.append(kind) or real(self, kind))
        got = []
        for _ in range(35):
            got.append(ids.next("mid"))
            # Mail keeps coming while the writer commits the reservation: wait for what was
            # asked of the writer so far (it runs jobs in order), not for a length of time.
            await writer.submit(lambda _connection: None)
        return got

    got = asyncio.run(hand_out())
    writer.close()
    assert got == sorted(set(got)) and len(got) == 35  # unique and growing
    assert waited_on_the_loop == []  # every new block was reserved ahead, by the writer
    again = IdAllocator(Store.open(data_dir).engine, block=10)
    assert again.next("mid") > got[-1]  # the stored mark covers everything handed out
