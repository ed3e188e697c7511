"""GTUBE and EICAR inside base64 body parts, whatever the line length."""

from __future__ import annotations

import base64

import pytest

from engine.mail.verdicts import EICAR, GTUBE, scan


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
