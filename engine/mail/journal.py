"""The journal copy sent to SETD: a new message carrying the original, untouched.

SETD wants the "journaled format": the complete original as a message/rfc822 part
(SPEC.md §4 ruling 6).  The original's bytes are copied, never re-serialised: the
part's content is exactly the message as the gateway delivers it, from the byte
after the part's blank line up to the CRLF that starts the closing delimiter.

Tests: tests/engine/mail/test_mail_flow.py.
"""

from __future__ import annotations

import itertools
import secrets
from datetime import datetime
from email.header import Header
from email.utils import format_datetime

BOUNDARY_PREFIX = "----=_SEG_TDC_"
#: Boundaries are this process's random key and a counter: unguessable, never repeated,
#: and no system call per copy.
_KEY = secrets.token_hex(12)
_SERIAL = itertools.count(1)


def _boundary(original: bytes) -> str:
    while True:
        boundary = f"{BOUNDARY_PREFIX}{_KEY}{next(_SERIAL):08x}"
        if boundary.encode("ascii") not in original:
            return boundary


def journal_copy(original: bytes, *, gateway: str, intake: str, mid: int, original_mid: int,
                 original_message_id: str, when: datetime) -> bytes:
    head, tail = journal_parts(original, gateway=gateway, intake=intake, mid=mid,
                               original_mid=original_mid,
                               original_message_id=original_message_id, when=when)
    return b"".join((head, original, tail))


def journal_parts(original: bytes, *, gateway: str, intake: str, mid: int, original_mid: int,
                  original_message_id: str, when: datetime) -> tuple[bytes, bytes]:
    """The journal copy around *original*: its head (up to the attached part's first byte)
    and its tail (from the byte after the original).  A big original's copy is stored as
    these two and the original's spool file (engine/store/spool.py), never as a second
    copy of the original."""
    boundary = _boundary(original)
    encoding = "7bit" if original.isascii() else "8bit"
    head = "\r\n".join([
        f"From: Threat Defense Connector <mailer-daemon@{gateway}>",
        f"To: <{intake}>",
        f"Subject: Journal report for MID {original_mid}",
        f"Date: {format_datetime(when)}",
        f"Message-ID: <tdc.{mid}@{gateway}>",
        f"X-SEG-TDC-Original-MID: {original_mid}",
        f"X-SEG-TDC-Original-Message-ID: {_ascii_value(original_message_id)}",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/mixed; boundary="{boundary}"',
        "",
        "This is a journal report from a Cisco Secure Email Gateway.",
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        f"Journaled MID {original_mid} for Cisco Secure Email Threat Defense.",
        f"--{boundary}",
        "Content-Type: message/rfc822",
        f"Content-Transfer-Encoding: {encoding}",
        "",
        "",
    ]).encode("ascii")
    line_end = b"" if original.endswith(b"\r\n") else b"\r\n"
    return head, line_end + f"\r\n--{boundary}--\r\n".encode("ascii")


def _ascii_value(value: str) -> str:
    """A header value taken from the original, as the journal's ASCII header can carry it:
    unchanged when it is printable ASCII, else RFC 2047 encoded (UTF-8; bytes that were
    not UTF-8 and control characters as U+FFFD).  The listener keeps 8-bit header bytes
    as surrogate escapes."""
    if value.isascii() and value.isprintable():
        return value
    text = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    text = "".join(char if char.isprintable() else "\ufffd" for char in text)
    return Header(text, "utf-8").encode(linesep="\r\n")


def attached_original(journal: bytes) -> bytes | None:
    """The original's bytes from a journal copy made by :func:`journal_copy` (for tests
    and the SETD simulator's integrity check); None when it is not such a journal."""
    marker = b'boundary="' + BOUNDARY_PREFIX.encode()
    start = journal.find(marker)
    if start < 0:
        return None
    end = journal.index(b'"', start + len(b'boundary="'))
    boundary = journal[start + len(b'boundary="'):end]
    part = journal.find(b"Content-Type: message/rfc822", end)
    body = journal.find(b"\r\n\r\n", part)
    closing = journal.rfind(b"\r\n--" + boundary + b"--")
    if part < 0 or body < 0 or closing < body:
        return None
    return journal[body + 4:closing]
