"""Reading the mail log back: file order, a line still being written, following across rolls."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

from engine.observe.log_files import LogFollower, file_span, line_time, log_files, split_line
from engine.observe.mail_log import MailLog
from engine.observe.tracking import references


def test_files_are_rolled_oldest_first_then_current(tmp_path):
    log = MailLog(tmp_path, version="v", serial="s")
    first = log.roll()
    os.utime(first, (time.time() - 60, time.time() - 60))
    second = log.roll()
    log.close()
    assert log_files(tmp_path) == [first, second, tmp_path / "mail.current"]


def test_line_time_and_split(tmp_path):
    line = "Wed Sep  6 13:13:16 2023 Info: MID 6 queued for delivery"
    assert line_time(line) == datetime(2023, 9, 6, 13, 13, 16, tzinfo=UTC)
    assert split_line(line) == ("Wed Sep  6 13:13:16 2023", "Info: MID 6 queued for delivery")
    assert line_time("no stamp here") is None and split_line("x") == ("", "x")


def test_file_span_reads_the_first_and_last_stamps(tmp_path):
    log = MailLog(tmp_path, version="v", serial="s")
    for n in range(5000):
        log.info(f"line {n}")
    log.close()
    span = file_span(tmp_path / "mail.current")
    assert span.first is not None and span.last is not None and span.first <= span.last


def test_follower_returns_only_complete_lines(tmp_path):
    path = tmp_path / "mail.current"
    path.write_bytes(b"old 1\nold 2\nold 3\n")
    follower = LogFollower(tmp_path)
    assert follower.open_at_end(2) == ["old 2", "old 3"]
    with open(path, "ab") as handle:
        handle.write(b"new 1\nhalf")
        handle.flush()
        assert follower.poll() == ["new 1"]
        handle.write(b" a line\n")
        handle.flush()
        assert follower.poll() == ["half a line"]
    assert follower.poll() == []
    follower.close()


def test_follower_finishes_the_old_file_then_reads_the_new_one(tmp_path):
    log = MailLog(tmp_path, version="v", serial="s")
    follower = LogFollower(tmp_path)
    follower.open_at_end()
    log.info("before the roll")
    log.flush()
    log.roll()
    log.info("after the roll")
    log.flush()
    lines = follower.poll() + follower.poll()
    texts = [split_line(line)[1] for line in lines]
    assert texts == ["Info: before the roll", "Info: End Logfile", "Info: Begin Logfile",
                     "Info: Version: v SN: s", "Info: Time offset from UTC: 0 seconds",
                     "Info: after the roll"]
    follower.close()
    log.close()


def test_follower_from_the_start_reads_in_chunks(tmp_path):
    (tmp_path / "mail.current").write_text("".join(f"line {n:05d}\n" for n in range(1000)))
    follower = LogFollower(tmp_path)
    follower.open_at_start()
    seen: list[str] = []
    while not follower.caught_up:
        seen += follower.poll(limit=1000)
    assert seen == [f"line {n:05d}" for n in range(1000)]
    follower.close()


def test_references_name_messages_and_connections():
    refs = references("Delivery start DCID 4 MID 3 to RID [0]")
    assert refs.mids == {3} and refs.dcids == {4} and not refs.icids
    refs = references("Message 548799 to RID [712290] pending till Mon Aug 10 09:56:56 2020")
    assert refs.mids == {548799}
    refs = references("Bounced: DCID 0 MID 171 to RID 0 - Bounced by destination server")
    assert refs.mids == {171} and not refs.dcids  # DCID 0: no connection
    assert references("MID 6 ICID 5 RID 0 To: <bob@example.com>").icids == {5}
