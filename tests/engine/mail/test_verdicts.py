"""GTUBE and EICAR inside base64 body parts, whatever the line length."""

from __future__ import annotations

import base64
import random
import re

import pytest

from engine.mail.verdicts import EICAR, GTUBE, base64_blocks, scan, scan_in_slices

#: The blocks as they were first defined: runs of whole base64 lines, ``^`` in MULTILINE mode.
_REFERENCE = re.compile(rb"^(?:[A-Za-z0-9+/]{4,}={0,2}\r?\n)+", re.MULTILINE)


def _base64_lines(payload: bytes, width: int) -> bytes:
    encoded = base64.b64encode(payload)
    return b"".join(encoded[i:i + width] + b"\r\n" for i in range(0, len(encoded), width))


@pytest.mark.parametrize("width", [60, 76, 1000])
@pytest.mark.parametrize("padding", [b"", b"x", b"xy" * 50])
def test_test_strings_in_a_base64_part_at_any_offset(width, padding):
    for string, found in ((EICAR, lambda v: v.virus == "EICAR-AV-Test"), (GTUBE, lambda v: v.spam)):
        message = (b"Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
                   b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                   + _base64_lines(padding + string + padding, width) + b"--b--\r\n")
        assert found(scan(message))


def test_text_whose_lines_end_in_words_is_clean():
    line = b"The quick brown fox jumps over the lazy dog 0123456789\r\n"
    verdicts = scan(b"Subject: plain\r\n\r\n" + line * 100)
    assert not verdicts.spam and verdicts.virus is None


def test_base64_blocks_are_the_runs_the_multiline_pattern_finds():
    generator = random.Random(14)
    pieces = [b"QUJD", b"QUJDRA==", b"QUJDRA===", b"abc", b"", b"x y", b"=", b"\r", b"\n",
              base64.b64encode(b"x" * 70), b"The quick brown fox"]
    for _ in range(5000):
        message = b"".join(generator.choice(pieces) + generator.choice([b"\r\n", b"\n", b"\r", b""])
                           for _ in range(generator.randint(0, 12)))
        expected = [block.group(0) for block in _REFERENCE.finditer(message)]
        assert base64_blocks(message) == expected, message


def test_scanning_in_slices_finds_what_scanning_whole_finds():
    """scan_in_slices (a big message, in a thread) against scan: the same verdicts on
    generated messages, with slices small enough that blocks, lines, decoded pieces and
    test strings all cross slice ends."""
    generator = random.Random(1414)
    encoded = {width: [_base64_lines(padding + string + padding, width)
                       for string in (GTUBE, EICAR, b"nothing to see")
                       for padding in (b"", b"x", b"xy" * 40)]
               for width in (60, 73, 76, 1000)}
    pieces = [b"QUJD", b"QUJDRA==", b"QUJDRA===", b"abc", b"", b"x y", b"=", b"\r", b"\n",
              base64.b64encode(b"x" * 70), b"The quick brown fox", GTUBE[:30], EICAR[30:]]
    seen = set()
    for _ in range(3000):
        parts = []
        for _ in range(generator.randint(0, 10)):
            if generator.random() < 0.3:
                parts.append(generator.choice(encoded[generator.choice([60, 73, 76, 1000])]))
            else:
                parts.append(generator.choice(pieces)
                             + generator.choice([b"\r\n", b"\n", b"\r", b""]))
        message = b"".join(parts)
        expected = scan(message)
        for size in (1, 7, 64, 200, 1 << 20):
            assert scan_in_slices(message, size) == expected, (size, message)
        seen.add(expected)
    assert len(seen) == 4  # clean, spam, virus, both: each was generated
