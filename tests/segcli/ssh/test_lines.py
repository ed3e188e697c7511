"""Lines from an SSH channel (segcli/ssh/lines.py): line ends counted once however the
bytes are cut, garbage kept harmless, typed-ahead keys echoed when a prompt takes them."""

from __future__ import annotations

import asyncio

import pytest

from commands.command_line import MAX_COMMAND_LINE
from segcli.ssh.lines import MAX_TYPEAHEAD, ChannelLineReader, KeyboardLineReader, split_commands


@pytest.mark.parametrize("text, commands", [
    ("tophosts 1; status", ["tophosts 1", "status"]),
    ("  version ;; ", ["version"]),
    ("""sethostname 'a;b'; commit "x; y" """, ["sethostname 'a;b'", 'commit "x; y"']),
    (r"commit a\;b; version", [r"commit a\;b", "version"]),
    ("", []),
])
def test_exec_commands_split_on_semicolons_outside_quotes(text, commands):
    assert split_commands(text) == commands


def read_all(reader) -> list[str]:
    async def collect() -> list[str]:
        lines = []
        while (line := await reader.readline()) is not None:
            lines.append(line)
        return lines
    return asyncio.run(collect())


def fed(chunks: list[bytes]) -> list[str]:
    reader = ChannelLineReader()
    for chunk in chunks:
        reader.feed(chunk)
    reader.end()
    return read_all(reader)


def test_each_line_end_counts_once_however_the_bytes_are_cut():
    data = b"one\r\ntwo\r\0three\nfour\rfive"
    expected = ["one", "two", "three", "four", "five"]
    assert fed([data]) == expected
    assert fed([bytes([byte]) for byte in data]) == expected
    assert fed([b"one\r", b"\ntwo\r", b"\0three\n", b"\nsix"]) == ["one", "two", "three", "",
                                                                    "six"]


def test_garbage_becomes_harmless_text():
    assert fed([b"\xff\xfe ok\x00\x07\x1b[A\t!\n", b"caf\xc3", b"\xa9\n"]) == \
        ["\ufffd\ufffd ok[A\t!", "café"]


def test_an_endless_line_is_cut():
    [line] = fed([b"x" * 200_000 + b"\n"])
    assert len(line) == 64 * 1024


def test_an_exec_request_too_long_for_a_command_line_is_left_whole():
    """Not even split: the session refuses it unread (commands/command_line.py)."""
    text = "status; " + "A" * MAX_COMMAND_LINE
    assert split_commands(text) == [text]


def test_lines_sent_ahead_wait_in_bounded_memory():
    """A client that floods a session with lines while a command runs loses the lines
    past MAX_TYPEAHEAD; the server keeps its memory."""
    line = b"y" * 1023 + b"\n"
    lines = fed([line] * (3 * MAX_TYPEAHEAD // len(line)))
    assert len(lines) == MAX_TYPEAHEAD // len(line)


class Keyboard:
    def __init__(self) -> None:
        self.echoed: list[str] = []
        self.interrupts = 0
        self.reader = KeyboardLineReader(self.echoed.append, self.interrupted)

    def interrupted(self) -> None:
        self.interrupts += 1

    @property
    def echo(self) -> str:
        return "".join(self.echoed)


def test_keys_are_echoed_and_edited_at_a_prompt():
    async def scenario():
        keyboard = Keyboard()
        reading = asyncio.ensure_future(keyboard.reader.readline())
        await asyncio.sleep(0)
        keyboard.reader.feed(b"versiom\x7fn\x1b[D\r\n")
        assert await reading == "version"
        assert keyboard.echo == "versiom\b \bn\r\n"
        keyboard.reader.secret = True
        reading = asyncio.ensure_future(keyboard.reader.readline())
        await asyncio.sleep(0)
        keyboard.reader.feed(b"s3cret\r\0")
        assert await reading == "s3cret"
        assert keyboard.echo.endswith("n\r\n\r\n")  # the password was not echoed
    asyncio.run(scenario())


def test_keys_typed_ahead_wait_for_the_prompt():
    async def scenario():
        keyboard = Keyboard()
        keyboard.reader.feed(b"first\nsecond\n")
        assert keyboard.echo == ""  # nobody asked yet
        assert await keyboard.reader.readline() == "first"
        assert keyboard.echo == "first\r\n"  # the second line waits for its own prompt
        assert await keyboard.reader.readline() == "second"
        assert keyboard.echo == "first\r\nsecond\r\n"
    asyncio.run(scenario())


def test_ctrl_c_acts_at_once_and_drops_what_was_typed_ahead():
    async def scenario():
        keyboard = Keyboard()
        keyboard.reader.feed(b"typed ahead\x03after\n")
        assert keyboard.interrupts == 1
        assert await keyboard.reader.readline() == "after"
        reading = asyncio.ensure_future(keyboard.reader.readline())
        await asyncio.sleep(0)
        keyboard.reader.feed(b"half a line\x03")
        assert keyboard.interrupts == 2
        keyboard.reader.feed(b"whole\r")
        assert await reading == "whole"
    asyncio.run(scenario())


def test_ctrl_d_on_an_empty_line_and_the_end_of_input():
    keyboard = Keyboard()
    keyboard.reader.feed(b"one\n\x04two\n")
    assert read_all(keyboard.reader) == ["one"]
    keyboard = Keyboard()
    keyboard.reader.feed(b"one\npartial")
    keyboard.reader.end()
    assert read_all(keyboard.reader) == ["one", "partial"]
