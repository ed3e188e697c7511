"""KeyPipe: the keys of an SSH session go into prompt_toolkit's pipe a slice at a time,
the next slice at the loop turn after prompt_toolkit read the last, over a real pipe and
prompt_toolkit's own reader (``Vt100Input.read_keys`` reads through ``stdin_reader``).

segcli.ssh.shells imports the reactor: it is imported in the tests (their loop is the
asyncio reactor's), never at collection."""

from __future__ import annotations

import array
import asyncio
import fcntl
import termios

from prompt_toolkit.input.posix_pipe import PosixPipeInput

from segcli.ssh.lines import MAX_TYPEAHEAD

#: Bytes in a slice (segcli.ssh.shells.KEY_SLICE; checked in the first test).
KEY_SLICE = 256


def key_pipe(pipe: PosixPipeInput):
    from segcli.ssh.shells import KeyPipe

    return KeyPipe(pipe)


def unread(pipe: PosixPipeInput) -> int:
    """Bytes written into the pipe that nobody has read yet (FIONREAD)."""
    count = array.array("i", [0])
    fcntl.ioctl(pipe.pipe.read_fd, termios.FIONREAD, count)
    return count[0]


async def read_all(pipe: PosixPipeInput) -> tuple[str, int]:
    """Read as prompt_toolkit does, one read per loop turn, until the pipe stays empty:
    the text and the number of reads."""
    text, reads = "", 0
    while unread(pipe):
        text += pipe.stdin_reader.read()
        reads += 1
        assert unread(pipe) == 0  # the next slice waits for the next loop turn
        await asyncio.sleep(0)
        assert unread(pipe) <= KEY_SLICE
    return text, reads


async def test_a_paste_goes_in_a_slice_at_a_time_with_loop_turns_between():
    from segcli.ssh import shells

    assert shells.KEY_SLICE == KEY_SLICE
    # Characters of two and three bytes: slices end inside characters.
    text = "café naïve €uro " * 600
    data = text.encode("utf-8")
    with PosixPipeInput.create() as pipe:
        keys = key_pipe(pipe)
        keys.send(data)
        assert unread(pipe) == KEY_SLICE
        received, reads = await read_all(pipe)
        assert received == text
        assert reads == -(-len(data) // KEY_SLICE)
        keys.close()


async def test_keys_typed_while_nothing_reads_wait_and_follow_in_order():
    with PosixPipeInput.create() as pipe:
        keys = key_pipe(pipe)
        for n in range(50):  # typed while a command runs: nobody reads the pipe
            keys.send(f"line {n}\r".encode())
        await asyncio.sleep(0)
        assert unread(pipe) == len("line 0\r")  # the rest waits for a read
        received, _ = await read_all(pipe)
        assert received == "".join(f"line {n}\r" for n in range(50))
        keys.send(b"later")  # the pipe is empty again: straight in
        assert unread(pipe) == 5
        keys.close()


async def test_typeahead_is_bounded_and_the_end_of_input_drops_it():
    with PosixPipeInput.create() as pipe:
        keys = key_pipe(pipe)
        sent = b"x" * MAX_TYPEAHEAD + b"y" * 5000
        keys.send(sent)  # past the bound: the rest is dropped
        received, _ = await read_all(pipe)
        # What waits is bounded; the slice already in the pipe is not counted.
        assert MAX_TYPEAHEAD <= len(received) <= MAX_TYPEAHEAD + KEY_SLICE
        assert sent.startswith(received.encode())
        keys.send(b"z" * (3 * KEY_SLICE))
        keys.close()  # the end of input: what waits is dropped, the prompt sees EOF
        assert pipe.stdin_reader.read() == "z" * KEY_SLICE
        await asyncio.sleep(0)
        assert pipe.stdin_reader.read() == "" and pipe.closed
        keys.send(b"after")  # ignored, nothing fails
