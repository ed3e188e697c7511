"""Deterministic anti-spam and anti-virus verdicts for labs.

The industry's own test strings decide: GTUBE makes a message spam-positive, the
EICAR test file makes it virus-positive, anywhere in the message (body or
attachment).  Everything else is clean.  That is what lets a drill send a message
that is certain to be filtered, and check that it is not journaled.

Tests: tests/engine/mail/test_verdicts.py.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator
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
    spam, virus = GTUBE in message, EICAR in message
    for part in _decoded_parts(message):
        spam, virus = spam or GTUBE in part, virus or EICAR in part
    return Verdicts(spam=spam, virus=EICAR_NAME if virus else None)


def _decoded_parts(message: bytes) -> Iterator[bytes]:
    """Each base64 block decoded, one at a time: a big attachment is decoded straight from
    the message (``a2b_base64`` skips the line ends, as ``b64decode`` does), without
    copying the block or keeping the parts already searched."""
    with memoryview(message) as view:
        for start, end in _base64_spans(message):
            # line ends are at most a third of a block: only a short one can be too short
            if end - start < 2 * _SHORTEST and _base64_length(message[start:end]) < _SHORTEST:
                continue
            try:
                yield binascii.a2b_base64(view[start:end])
            except (binascii.Error, ValueError):
                continue


def _base64_spans(message: bytes) -> Iterator[tuple[int, int]]:
    """Where each run of whole base64 lines of *message* is, the longest each can be, in
    order: searched from line ends only, not tried at every byte."""
    first = _BASE64_FIRST.match(message)
    if first:
        yield first.span()
    after = first.end() if first else 0
    for block in _BASE64_AFTER_LINE_END.finditer(message, after):
        yield block.span(1)


def base64_blocks(message: bytes) -> list[bytes]:
    """Every run of whole base64 lines in *message*, the longest each can be, in order."""
    return [message[start:end] for start, end in _base64_spans(message)]


def _base64_length(block: bytes) -> int:
    """The base64 characters of *block* (its line ends aside)."""
    return len(block) - block.count(b"\n") - block.count(b"\r")
