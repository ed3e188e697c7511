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


# -- a big message, a slice at a time ------------------------------------------------------
#: About how much of a message one step of :func:`scan_in_slices` reads.
SLICE = 1024 * 1024
#: A test string across two slices is found in the last bytes of one and the first of the next.
_OVERLAP = max(len(GTUBE), len(EICAR)) - 1
#: Line ends tried for a cut of a base64 block where a whole number of 4-character groups ends.
_CUT_TRIES = 16


def scan_in_slices(message: bytes, size: int = SLICE) -> Verdicts:
    """The verdicts of :func:`scan`, found about *size* bytes at a time: no single step (a
    search, a match, a decode) holds the interpreter for long, so a thread scanning a big
    message hands the GIL back to the event loop between steps (one decode of a 50 MB
    attachment held it for a quarter of a second).  Same blocks, same decoding:
    tests/engine/mail/test_verdicts.py holds it against :func:`scan`."""
    spam = _in_slices(message, GTUBE, size)
    virus = _in_slices(message, EICAR, size)
    for start, end in _spans_in_slices(message, size):
        if spam and virus:
            break
        if end - start < 2 * _SHORTEST and _base64_length(message[start:end]) < _SHORTEST:
            continue
        in_block = _decoded_block_has(message, start, end, size)
        spam, virus = spam or GTUBE in in_block, virus or EICAR in in_block
    return Verdicts(spam=spam, virus=EICAR_NAME if virus else None)


def _in_slices(message: bytes, string: bytes, size: int) -> bool:
    return any(message.find(string, max(0, at - _OVERLAP), at + size) >= 0
               for at in range(0, len(message), size))


def _slice_end(message: bytes, start: int, size: int) -> int:
    """Just after the first line end at least *size* bytes on (slices hold whole lines)."""
    if start + size >= len(message):
        return len(message)
    line_end = message.find(b"\n", start + size - 1)
    return len(message) if line_end < 0 else line_end + 1


def _spans_in_slices(message: bytes, size: int) -> Iterator[tuple[int, int]]:
    """The spans of :func:`_base64_spans`, searched a slice at a time: a slice starts after
    a line end, as the message does, so the same patterns apply; a block that reaches the
    end of its slice goes on with one that starts the next."""
    open_block: tuple[int, int] | None = None
    start = 0
    while start < len(message):
        end = _slice_end(message, start, size)
        blocks = []
        first = _BASE64_FIRST.match(message, start, end)
        if first:
            blocks.append(first.span())
        after = first.end() if first else start
        blocks += [block.span(1) for block in _BASE64_AFTER_LINE_END.finditer(message, after, end)]
        for block in blocks:
            if open_block is not None and open_block[1] == block[0]:
                open_block = (open_block[0], block[1])
                continue
            if open_block is not None:
                yield open_block
            open_block = block
        if open_block is not None and open_block[1] != end:
            yield open_block
            open_block = None
        start = end
    if open_block is not None:
        yield open_block


def _decoded_block_has(message: bytes, start: int, end: int, size: int) -> bytes:
    """The test strings the block holds once decoded, as :func:`_decoded_parts` would find
    them (b"" when the block does not decode): searched in each decoded piece and across
    each cut.  Pieces end where a whole number of 4-character groups does and hold no
    padding, so together they decode to what the whole block decodes to; a block that
    cannot be cut so is decoded whole."""
    found = bytearray()
    tail = b""
    with memoryview(message) as view:
        try:
            for at, cut in _cuts(message, start, end, size):
                piece = binascii.a2b_base64(view[at:cut])
                for string in (GTUBE, EICAR):
                    if string in piece or string in tail + piece[:_OVERLAP]:
                        found += string
                tail = (tail + piece[-_OVERLAP:])[-_OVERLAP:]
        except (binascii.Error, ValueError):
            return b""
    return bytes(found)


def _cuts(message: bytes, start: int, end: int, size: int) -> Iterator[tuple[int, int]]:
    at = start
    while at < end:
        cut = _aligned_cut(message, at, end, size)
        yield at, cut
        at = cut


def _aligned_cut(message: bytes, at: int, end: int, size: int) -> int:
    """Where the piece of the block from *at* ends: after a line end at least *size* bytes on
    where its base64 characters make whole groups and no padding came; else the block's end."""
    cut = _slice_end(message, at, size)
    for _ in range(_CUT_TRIES):
        if cut >= end or message.find(b"=", at, cut) >= 0:
            return end
        line_ends = message.count(b"\n", at, cut) + message.count(b"\r", at, cut)
        if (cut - at - line_ends) % 4 == 0:
            return cut
        line_end = message.find(b"\n", cut, end)
        cut = end if line_end < 0 else line_end + 1
    return end
