"""Deterministic anti-spam and anti-virus verdicts for labs.

The industry's own test strings decide: GTUBE makes a message spam-positive, the
EICAR test file makes it virus-positive, anywhere in the message (body or
attachment).  Everything else is clean.  That is what lets a drill send a message
that is certain to be filtered, and check that it is not journaled.

Tests: tests/engine/mail/test_verdicts.py.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

GTUBE = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_NAME = "EICAR-AV-Test"
#: Whole lines of base64, as a base64 body part has them (a word at the end of a line of
#: text is not base64 content).
_BASE64_BLOCK = re.compile(rb"^(?:[A-Za-z0-9+/]{4,}={0,2}\r?\n)+", re.MULTILINE)
#: Base64 characters a block needs to hold a test string at any offset: shorter ones are
#: not worth decoding.
_SHORTEST = 4 * -(-max(len(GTUBE), len(EICAR)) // 3)


@dataclass(frozen=True)
class Verdicts:
    spam: bool
    virus: str | None


def scan(message: bytes) -> Verdicts:
    """Look for the test strings as they are and inside base64 parts (attachments)."""
    decoded = _decoded_parts(message)
    return Verdicts(
        spam=GTUBE in message or any(GTUBE in part for part in decoded),
        virus=EICAR_NAME if EICAR in message or any(EICAR in part for part in decoded) else None,
    )


def _decoded_parts(message: bytes) -> list[bytes]:
    parts = []
    for block in _BASE64_BLOCK.finditer(message):
        text = block.group(0).replace(b"\r\n", b"").replace(b"\n", b"")
        if len(text) < _SHORTEST:
            continue
        try:
            parts.append(base64.b64decode(text))
        except (binascii.Error, ValueError):
            continue
    return parts
