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
#: text is not base64 content): the blocks are the longest runs of such lines.
_BASE64_LINES = rb"(?:[A-Za-z0-9+/]{4,}={0,2}\r?\n)+"
#: A block at the start of the message, and one after a line end.  Not one pattern with
#: ``^`` in MULTILINE mode: that one is tried at every byte, this one only after a line end
#: (found the way ``bytes.find`` finds it), and the blocks are the same (the test holds
#: them against each other).
_BASE64_FIRST = re.compile(_BASE64_LINES)
_BASE64_AFTER_LINE_END = re.compile(rb"\n(" + _BASE64_LINES + rb")")
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
    for block in base64_blocks(message):
        text = block.replace(b"\r\n", b"").replace(b"\n", b"")
        if len(text) < _SHORTEST:
            continue
        try:
            parts.append(base64.b64decode(text))
        except (binascii.Error, ValueError):
            continue
    return parts


def base64_blocks(message: bytes) -> list[bytes]:
    """Every run of whole base64 lines in *message*, the longest each can be, in order."""
    first = _BASE64_FIRST.match(message)
    blocks = [first.group(0)] if first else []
    after = first.end() if first else 0
    blocks.extend(block.group(1) for block in _BASE64_AFTER_LINE_END.finditer(message, after))
    return blocks
