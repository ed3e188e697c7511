"""The frames of the local console channel (segcli/attach/wire.py)."""

from __future__ import annotations

import pytest

from segcli.attach import wire


def test_frames_come_out_whole_whatever_the_pieces():
    stream = (wire.hello(wire.Hello(True, 24, 80, "xterm")) + wire.frame(wire.DATA, b"status\r")
              + wire.window(50, 132) + wire.frame(wire.EOF))
    reader = wire.FrameReader(wire.CLIENT_KINDS, wire.MAX_CLIENT_FRAME)
    frames = [frame for i in range(len(stream)) for frame in reader.feed(stream[i:i + 1])]
    assert [kind for kind, _ in frames] == [wire.HELLO, wire.DATA, wire.WINDOW, wire.EOF]
    assert wire.parse_hello(frames[0][1]) == wire.Hello(True, 24, 80, "xterm")
    assert frames[1][1] == b"status\r"
    assert wire.parse_window(frames[2][1]) == (50, 132)


def test_the_exit_status_round_trips():
    reader = wire.FrameReader(wire.SERVER_KINDS, wire.MAX_SERVER_FRAME)
    [(kind, payload)] = reader.feed(wire.exit_status(1))
    assert kind == wire.EXIT and wire.parse_status(payload) == 1


def test_an_unknown_kind_or_an_oversized_frame_is_refused():
    reader = wire.FrameReader(wire.CLIENT_KINDS, wire.MAX_CLIENT_FRAME)
    with pytest.raises(wire.FrameError, match="unknown frame kind"):
        reader.feed(b"SSH-2.0-OpenSSH\r\n")
    reader = wire.FrameReader(wire.CLIENT_KINDS, 16)
    with pytest.raises(wire.FrameError, match="at most 16"):
        reader.feed(wire.frame(wire.DATA, b"x" * 17))
    # the console may not send what only the appliance sends
    with pytest.raises(wire.FrameError):
        wire.FrameReader(wire.CLIENT_KINDS, 64).feed(wire.exit_status(0))


def test_a_bad_hello_or_window_is_refused():
    with pytest.raises(wire.FrameError):
        wire.parse_hello(b"\x01")
    with pytest.raises(wire.FrameError, match="control characters"):
        wire.parse_hello(b"\x01\x00\x18\x00\x50xterm\x1b[2J")
    with pytest.raises(wire.FrameError):
        wire.parse_window(b"\x00")
