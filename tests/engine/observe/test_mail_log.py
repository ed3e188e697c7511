"""The mail log file: header lines, asctime stamps, rolling to ``mail.@<stamp>.s``."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from engine.observe.log_files import log_files
from engine.observe.mail_log import MailLog

STAMP = r"[A-Z][a-z]{2} [A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d \d{4}"


def test_header_and_lines(tmp_path):
    log = MailLog(tmp_path, version="15.5.1-055", serial="ABC-DEF")
    log.info("TDC: MID 1 successfully delivered")
    log.warning("something odd")
    log.close()
    text = (tmp_path / "mail.current").read_text()
    lines = text.splitlines()
    assert re.fullmatch(rf"{STAMP} Info: Begin Logfile", lines[0])
    assert lines[1].endswith("Info: Version: 15.5.1-055 SN: ABC-DEF")
    assert lines[2].endswith("Info: Time offset from UTC: 0 seconds")
    assert re.fullmatch(rf"{STAMP} Info: TDC: MID 1 successfully delivered", lines[3])
    assert re.fullmatch(rf"{STAMP} Warning: something odd", lines[4])


def test_day_of_month_is_space_padded():
    from datetime import UTC, datetime

    from engine.observe.timestamps import asctime

    assert asctime(datetime(2023, 9, 6, 13, 13, 16, tzinfo=UTC)) == "Wed Sep  6 13:13:16 2023"


def test_rolls_when_full_and_keeps_a_limited_number(tmp_path):
    log = MailLog(tmp_path, version="v", serial="s", max_bytes=2000, keep=2)
    for n in range(200):
        log.info(f"line {n:04d} " + "x" * 40)
    log.close()
    rolled = sorted(tmp_path.glob("mail.@*.s"))
    assert len(rolled) == 2  # keep=2, and the 14 kB written filled seven 2 kB files
    for path in rolled:
        text = path.read_text()
        assert "Info: Begin Logfile" in text.splitlines()[0]
        assert text.splitlines()[-1].endswith("Info: End Logfile")
    assert "line 0199" in (tmp_path / "mail.current").read_text()
    assert log.files()[-1].name == "mail.current"


def test_reopening_appends_without_a_second_header(tmp_path):
    MailLog(tmp_path, version="v", serial="s").close()
    log = MailLog(tmp_path, version="v", serial="s")
    log.info("again")
    log.close()
    assert (tmp_path / "mail.current").read_text().count("Begin Logfile") == 1


#: What a client can put into a line: a terminal title (ESC ... BEL), clear screen, NUL, a
#: line break (a forged line), CR, tab, DEL, a C1 CSI, a line separator, a lone surrogate.
HOSTILE = "a\x1b]0;PWNED\x07 \x1b[2J\x00\nFri Feb 16 Info: forged\r\t\x7f\x9b\u2028\udc80z"


def test_control_characters_are_written_escaped_never_raw(tmp_path):
    from engine.observe import log_lines

    log = MailLog(tmp_path, version="v", serial="s")
    log.info(log_lines.subject(7, HOSTILE))
    log.info(log_lines.subject(8, "Grüße aus Köln ✉ 営業部"))
    log.roll()  # the rolled file's End Logfile line is written the same way
    log.close()
    data = b"".join(path.read_bytes() for path in tmp_path.iterdir())
    assert not any((byte < 0x20 and byte != 0x0A) or byte == 0x7F for byte in data)
    text = data.decode("utf-8")  # and strictly UTF-8: no surrogate, no C1 control
    assert not any(0x80 <= ord(c) <= 0x9F or c in "\u2028\u2029" for c in text)
    [line] = [line for line in text.splitlines() if "MID 7 Subject" in line]
    assert line.endswith('Info: MID 7 Subject "a\\x1b]0;PWNED\\x07 \\x1b[2J\\x00\\n'
                         'Fri Feb 16 Info: forged\\r\\t\\x7f\\x9b\\u2028\\udc80z"')
    assert 'Info: MID 8 Subject "Grüße aus Köln ✉ 営業部"' in text  # any script is readable

def _rolls(log: MailLog, count: int) -> list[Path]:
    """Roll *count* times, a line naming each file before it goes; the paths rolled to."""
    made = []
    for number in range(count):
        log.info(f"file {number}")
        made.append(log.roll())
    return made


def _numbers(paths: list[Path]) -> list[int]:
    """Which ``file <n>`` line each rolled file holds."""
    return [int(re.search(r"Info: file (\d+)$", p.read_text(), re.MULTILINE)[1]) for p in paths]


@pytest.mark.parametrize("keep", [1, 3, 20])
def test_after_many_rolls_exactly_keep_files_are_kept_the_newest_oldest_first(tmp_path, keep):
    log = MailLog(tmp_path, version="v", serial="s", keep=keep)
    made = _rolls(log, keep + 7)
    log.close()
    rolled = sorted(tmp_path.glob("mail.@*.s"))
    assert len(rolled) == keep
    assert sorted(made[-keep:]) == rolled  # the newest are kept, by their own names
    assert log.files() == [*made[-keep:], tmp_path / "mail.current"]
    assert log_files(tmp_path) == log.files()  # what grep and findevent read, in that order
    assert _numbers(made[-keep:]) == list(range(7, keep + 7))
    assert os.listdir(tmp_path).count("mail.current") == 1 and len(os.listdir(tmp_path)) == keep + 1


def test_the_engine_keeps_twenty_rolled_files(tmp_path):
    """The engine's mail log is made with the defaults: 20 rolled files of 10 MB."""
    log = MailLog(tmp_path, version="v", serial="s")
    assert (log.keep, log.max_bytes) == (20, 10 * 1024 * 1024)
    made = _rolls(log, 23)
    log.close()
    assert log.files()[:-1] == made[3:]


def test_rolls_in_one_second_are_numbered_in_their_names(tmp_path, monkeypatch):
    from datetime import UTC, datetime

    from engine.observe import mail_log

    class StoppedClock(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)

    monkeypatch.setattr(mail_log, "datetime", StoppedClock)
    log = MailLog(tmp_path, version="v", serial="s", keep=3)
    made = _rolls(log, 5)
    log.close()
    assert [p.name for p in made] == ["mail.@20240102T030405.s", "mail.@20240102T030405.1.s",
                                      "mail.@20240102T030405.2.s", "mail.@20240102T030405.3.s",
                                      "mail.@20240102T030405.4.s"]
    assert log.files()[:-1] == made[2:]


def test_rolled_files_with_the_same_modification_time_keep_their_roll_order(tmp_path):
    """A file system whose clock ticks coarsely (a jiffy, a second) gives files rolled in one
    tick the same time: the names still order them, for pruning and for reading."""
    log = MailLog(tmp_path, version="v", serial="s", keep=4)
    made = _rolls(log, 4)
    tick = made[0].stat().st_mtime_ns
    for path in made:
        os.utime(path, ns=(tick, tick))
    assert log.files()[:-1] == made
    assert log_files(tmp_path)[:-1] == made
    log.info("file 4")
    made.append(log.roll())
    os.utime(made[-1], ns=(tick, tick))
    log.close()
    assert log.files()[:-1] == made[1:]
    assert _numbers(log.files()[:-1]) == [1, 2, 3, 4]


def test_found_reads_the_files_written_since_and_no_older_ones(tmp_path):
    """What recovery asks (issue 10, item 3): the MIDs of the ``enqueued`` lines in the files
    written to since a time; files rolled before it are not read.  Blocks of lines: a
    line cut by a block's end is still found."""
    import time

    from engine.observe.log_lines import TDC_ENQUEUED_MID, tdc_enqueued

    log = MailLog(tmp_path, version="v", serial="s")
    log.info(tdc_enqueued(1, "<a@x>", "intake@x"))
    old = log.roll()
    log.info(tdc_enqueued(2, "<b@x>", "intake@x"))
    for n in range(20_000):  # over a block of 1 MB
        log.info(f"filler {n} " + "x" * 60)
    log.info(tdc_enqueued(22, "<c@x>", "intake@x"))
    log.info("TDC: MID 3 was generated based on MID 2")
    log.flush()
    assert log.found(TDC_ENQUEUED_MID, since=time.time() - 60) == {b"1", b"2", b"22"}
    os.rename(old, tmp_path / "mail.@20000101T000000.s")  # rolled long before *since*
    assert log.found(TDC_ENQUEUED_MID, since=time.time() - 60) == {b"2", b"22"}
    log.close()
