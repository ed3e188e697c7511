"""The mail log file: header lines, asctime stamps, rolling to ``mail.@<stamp>.s``."""

from __future__ import annotations

import re

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
    assert 1 <= len(rolled) <= 2
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
