"""The listener's header reader gives what the email package gives (HeaderParser, compat32)."""

from __future__ import annotations

import random
from email.errors import MissingHeaderBodySeparatorDefect
from email.parser import HeaderParser
from email.policy import compat32

import pytest

from engine.mail.listener import header_fields, header_section

_PARSER = HeaderParser(policy=compat32)
#: Pieces a header block is made of, the awkward ones included: every kind of line end,
#: continuation lines, an mbox ``From `` line, a colon first, a name with a blank or with
#: 8-bit text (not a header line), blank lines, raw UTF-8 in values, and the characters
#: ``str.splitlines`` takes for line ends but the email package does not.
_PIECES = ["Message-ID: <a@b>", "message-id:<c@d>", "Subject: hello", "SUBJECT:  two  words ",
           "Subject:", " folded", "\tfolded too", "From someone@example.org", "From: x@y",
           ": no name", "Bad Name: v", "Grüße: v", "Subject: Grüße", "X-A:b:c", "plain text",
           "", "\r\n", "\r", "\n", "\r\n", "\n", "Subject: a\x0bb", "X-A: \x0c", "\x1c",
           "Subject: \x1d\x1e", "X-A: x\x85y", "Subject: \u2028", "\u2029 folded?", "\x0b"]


def _expected(text: str) -> tuple[dict[str, str | None], bool]:
    """The fields the email package reads, and whether the header section ended cleanly
    (no ``MissingHeaderBodySeparatorDefect``)."""
    message = _PARSER.parsestr(text, headersonly=True)
    clean = not any(isinstance(defect, MissingHeaderBodySeparatorDefect)
                    for defect in message.defects)
    return {name: message.get(name) for name in ("Message-ID", "Subject", "From", "X-A")}, clean


def _got(text: str) -> tuple[dict[str, str | None], bool]:
    fields, clean = header_section(text)
    assert header_fields(text) == fields
    return {name: fields.get(name.lower()) for name in ("Message-ID", "Subject", "From", "X-A")}, clean


@pytest.mark.parametrize("text", [
    "Message-ID: <m@x>\r\nSubject: s\r\n\r\nbody",
    "From a@b Thu Jan  1 00:00:00 2026\r\nSubject: s\r\n\r\n",
    "Subject: one\r\n two\r\n\tthree\r\nMessage-ID: <m@x>\r\n\r\n",
    " first line is a continuation\r\nSubject: s\r\n\r\n",
    "Subject: s\r\nFrom a@b\r\n",
    "Subject: a\rMessage-ID: <m@x>\r\r",
    "Subject: s",
    "",
    "Subject: a\x0bb\r\nMessage-ID: <m@x>\r\n\r\n",
    "Subject: s\r\n\x0c\r\nMessage-ID: <m@x>\r\n",
    "Subject: s\u2028",
])
def test_examples_read_as_the_email_package_reads_them(text):
    assert _got(text) == _expected(text)


def test_generated_header_blocks_read_as_the_email_package_reads_them():
    generator = random.Random(14)
    for _ in range(3000):
        pieces = generator.choices(_PIECES, k=generator.randint(0, 12))
        text = "".join(piece + generator.choice(["\r\n", "\n", "\r", ""]) for piece in pieces)
        assert _got(text) == _expected(text), repr(text)
