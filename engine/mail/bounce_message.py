"""The bounce message (DSN) the gateway sends to a sender whose mail it could not deliver.

A hard bounce (a 5xx reply, a domain that does not exist, a message too old, a verdict
whose action is "bounce", ``bouncerecipients``) would otherwise leave the sender none the
wiser.  Like every MTA the appliance tells them, in the standard form: a
multipart/report of report-type delivery-status (RFC 3464) with a line for people, one
machine-readable block per failed recipient, and the original's header (not its body:
what bounced may be large, or the very spam or virus that was refused).  The message is
sent from the null sender, so a bounce never bounces in turn (RFC 5321 §4.5.5).

Tests: tests/engine/mail/test_bounces.py.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

SUBJECT = "Delivery Status Notification (Failure)"
_KEY = secrets.token_hex(12)
_SERIAL = itertools.count(1)


@dataclass(frozen=True)
class Failure:
    """One recipient that could not be delivered: the enhanced status (``5.1.1``), its
    reason in words, and the remote server's reply (code ``000`` when there was none)."""

    recipient: str
    status: str
    reason: str
    code: str
    text: str


def bounce_message(*, gateway: str, sender: str, failures: Sequence[Failure], original: bytes,
                   mid: int, original_mid: int, received: datetime, when: datetime) -> bytes:
    """The DSN for *failures* of MID *original_mid*, addressed to *sender*."""
    boundary = f"----=_SEG_DSN_{_KEY}{next(_SERIAL):08x}"
    head = _lines([
        f"From: Mail Delivery System <MAILER-DAEMON@{gateway}>",
        f"To: <{sender}>",
        f"Subject: {SUBJECT}",
        f"Date: {format_datetime(when)}",
        f"Message-ID: <bounce.{mid}@{gateway}>",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "",
        "This is a MIME-formatted message: a delivery status notification.",
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        f"The message you sent (MID {original_mid} at {gateway}) could not be delivered to",
        "the following recipients:",
        "",
        *(f"  <{f.recipient}>: {f.status} - {f.reason}{_reply(f)}" for f in failures),
        "",
        f"--{boundary}",
        "Content-Type: message/delivery-status",
        "",
        f"Reporting-MTA: dns; {gateway}",
        f"Arrival-Date: {format_datetime(received)}",
        *itertools.chain.from_iterable(_recipient_block(f) for f in failures),
        "",
        f"--{boundary}",
        f"Content-Type: text/rfc822-headers{_eight_bit(original)}",
        "",
        "",
    ])
    return head + _header_block(original) + _lines([f"--{boundary}--", ""])


def _recipient_block(failure: Failure) -> list[str]:
    block = ["", f"Final-Recipient: rfc822; {failure.recipient}", "Action: failed",
             f"Status: {failure.status}"]
    if failure.code.isdigit() and failure.code != "000":
        block.append(f"Diagnostic-Code: smtp; {failure.code} {_ascii(failure.text)}")
    return block


def _reply(failure: Failure) -> str:
    if failure.code == "000":
        return f" ({_ascii(failure.text)})" if failure.text else ""
    return f" (the server said: {failure.code} {_ascii(failure.text)})"


def _header_block(original: bytes) -> bytes:
    """The original's header fields, each line ending CRLF, without the blank line."""
    end = original.find(b"\r\n\r\n")
    header = original if end < 0 else original[: end + 2]
    return header if header.endswith(b"\r\n") else header + b"\r\n"


def _eight_bit(original: bytes) -> str:
    return "" if _header_block(original).isascii() else "\r\nContent-Transfer-Encoding: 8bit"


def _ascii(text: str) -> str:
    """Reply text from a remote server, made safe for a header field and a text part."""
    return " ".join(text.encode("ascii", "backslashreplace").decode("ascii").split())


def _lines(lines: list[str]) -> bytes:
    return "\r\n".join(lines).encode("utf-8")  # addresses are ASCII unless a client lied
