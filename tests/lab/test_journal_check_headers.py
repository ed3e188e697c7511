"""The simulator reads plain header values without the email package's header registry
(segcli/lab/journal_check.py, ``_plain_reading``): whatever it reads must be exactly what
``email.policy.default`` reads, and what it cannot read it leaves to the registry.

Held against the email package on generated values: plausible ones (which the fast path
reads) and values built from the pieces that make header parsing hard (which it mostly
declines)."""

from __future__ import annotations

import email.policy
import random

import pytest

from segcli.lab.journal_check import _plain_reading, check_journal

NAMES = ("Subject", "Message-ID", "Date", "From", "To", "Cc", "Bcc")
PIECES = ("alice", "Bob", "x.y", "a@b", "@", ".", "..", " ", "  ", "\t", "\r\n ", "\r\n\t",
          '"', '"q u"', "(c)", "(", ")", "<", ">", ",", ";", ":", "[", "]", "\\", "=?",
          "=?utf-8?q?caf=C3=A9?=", "é", "\x01", "\x7f", "Thu,", "01", "Jan", "2026", "00:00:00",
          "+0000", "-0000", "GMT", "0", "99", "example.org", "mail.example.com", "~", "!", "#")


def registry(name: str, raw: str) -> str | None:
    """What the simulator got before: the default policy's reading, blanks collapsed."""
    try:
        value = email.policy.default.header_fetch_parse(name, raw)
    except (ValueError, IndexError, TypeError):
        return None
    return " ".join(str(value).split())


def plausible(rng: random.Random) -> dict[str, str]:
    def atom() -> str:
        return rng.choice(["alice", "bob", "Q", "x-y", "o'neil", "a+b", "z9", "jörg"])

    def addr() -> str:
        return f"{'.'.join(atom() for _ in range(rng.randint(1, 2)))}@" \
               f"{rng.choice(['example.org', 'mail.example.com', 'b'])}"

    def mailbox() -> str:
        form = rng.randrange(4)
        if form == 0:
            return addr()
        if form == 1:
            return f"<{addr()}>"
        name = rng.choice([" ", "  ", "\t", "\r\n "]).join(atom() for _ in range(rng.randint(1, 3)))
        return f"{name}{rng.choice(['', ' ', '  '])}<{addr()}>"

    stamp = rng.choice(["Thu, 01 Jan 2026 00:00:00 +0000", "1 Jan 2026 10:00:00 -0500",
                        "Mon, 7 Dec 2026 23:59:59 -0000", "Sun, 06 Dec 2026 12:00 GMT",
                        "not a date", "Thu, 32 Jan 2026 00:00:00 +0000", "2026-01-01"])
    return {
        "Subject": rng.choice(["hello", "  spaced   out ", "a\r\n folded subject",
                               "journal benchmark message 7", "tab\tin", "x =?", "50% off!"]),
        "Message-ID": rng.choice([f"<{addr()}>", f" <{addr()}> ", f"<{atom()}>",
                                  f"<bench.{rng.randint(0, 9)}.{rng.randint(0, 10**9)}@example.org>",
                                  f"<{addr()}> (comment)", f"<a..b@{atom()}>"]),
        "Date": stamp,
        **{name: (rng.choice([",", ", ", " ,\r\n "])).join(mailbox() for _ in range(rng.randint(1, 3)))
           for name in ("From", "To", "Cc", "Bcc")},
    }


@pytest.mark.parametrize("seed", range(40))
def test_plain_readings_equal_the_registrys(seed):
    rng = random.Random(seed)
    read = 0
    for _ in range(50):
        for name, raw in plausible(rng).items():
            fast = _plain_reading(name, raw)
            if fast is not None:
                read += 1
                assert " ".join(fast.split()) == registry(name, raw), (name, raw)
    assert read > 100  # the fast path does read the plausible values


@pytest.mark.parametrize("seed", range(40))
def test_hard_values_are_read_alike_or_left_to_the_registry(seed):
    rng = random.Random(1000 + seed)
    for _ in range(200):
        raw = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 8)))
        for name in NAMES:
            fast = _plain_reading(name, raw)
            if fast is not None:
                assert " ".join(fast.split()) == registry(name, raw), (name, raw)


def test_the_attached_original_is_read_as_before():
    original = (b"From: Benchmark <sender@example.org>\r\nTo: <user1@example.com>,\r\n"
                b" Carol  Ann <carol@example.com>\r\nCc: =?utf-8?q?J=C3=B6rg?= <j@example.com>\r\n"
                b"Subject: journal benchmark message 1\r\n"
                b"Message-ID: <bench.1.2@example.org>\r\nDate: 1 Jan 2026 10:00:00 -0500\r\n\r\nbody\r\n")
    journal = (b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
               b"Content-Type: message/rfc822\r\n\r\n" + original + b"\r\n--b--\r\n")
    found = check_journal(journal)
    assert found.sender == "Benchmark <sender@example.org>"
    assert found.recipients == ("user1@example.com", "carol@example.com", "j@example.com")
    assert found.subject == "journal benchmark message 1"
    assert found.message_id == "<bench.1.2@example.org>"
    assert found.date == "Thu, 01 Jan 2026 10:00:00 -0500"
