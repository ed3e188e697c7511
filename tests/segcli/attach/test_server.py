"""The appliance's side of the local console channel (segcli/attach/server.py), in
process, over a real Unix socket.

The tests run as root, whom the server always lets in, so the refusal of another uid is
shown with the peer's uid faked where the kernel gives it (``peer_uid``); ``peer_uid``
itself is checked on a real socketpair.  tests/e2e/test_attach.py runs real consoles.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path

import pytest

from commands import load_all
from commands.session import CliSession
from engine.appliance import Appliance, StartOptions
from segcli.attach import server as attach_server
from segcli.attach import wire
from segcli.attach.server import (
    AttachError,
    AttachServer,
    ConsoleConnection,
    may_attach,
    peer_uid,
)


@pytest.fixture
def opened(data_dir: Path):
    load_all()
    appliance = Appliance.open(StartOptions(data_dir=data_dir))
    yield appliance
    appliance.store.close()


async def _session(path: Path, *sent: bytes) -> tuple[bytes, int | None, str | None]:
    """Connect, send *sent*, read to the end: (output, exit status, refusal)."""
    reader, writer = await asyncio.open_unix_connection(os.fspath(path))
    for data in sent:
        writer.write(data)
    frames = wire.FrameReader(wire.SERVER_KINDS, wire.MAX_SERVER_FRAME)
    output, status, refusal = b"", None, None
    # A refusal closes the connection with what was sent unread: the reset that follows
    # the refusal frame is expected.
    with contextlib.suppress(ConnectionResetError):
        try:
            while chunk := await reader.read(65536):
                for kind, payload in frames.feed(chunk):
                    if kind == wire.DATA:
                        output += payload
                    elif kind == wire.EXIT:
                        status = wire.parse_status(payload)
                    else:
                        refusal = payload.decode()
        finally:
            writer.close()
            await writer.wait_closed()
    return output, status, refusal


PIPE = wire.hello(wire.Hello(False, 0, 0, "dumb"))


def test_the_peer_uid_is_the_kernels_word():
    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        assert peer_uid(left) == os.getuid()


def test_only_the_owner_and_root_may_attach():
    assert may_attach(1000, 1000)
    assert may_attach(0, 1000)
    assert not may_attach(1001, 1000)
    assert not may_attach(-1, 1000)


async def test_a_piped_console_runs_its_commands_and_ends_with_their_status(opened):
    server = AttachServer(opened)
    path = await server.start()
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_ISSOCK(path.stat().st_mode)
        output, status, refusal = await _session(
            path, PIPE, wire.frame(wire.DATA, b"version\n"), wire.frame(wire.EOF))
        assert refusal is None and status == 0
        text = output.decode()
        assert text.startswith("mail1.example.com> version\n")  # no banner: a transcript
        assert "Current Version" in text
        output, status, _ = await _session(path, PIPE, wire.frame(wire.DATA, b"nosuch\n"),
                                           wire.frame(wire.EOF))
        assert status == 1 and b"Unknown command" in output
    finally:
        await server.stop()
    assert not path.exists()


async def test_another_uid_is_refused_before_anything_runs(opened, monkeypatch):
    monkeypatch.setattr(attach_server, "peer_uid", lambda sock: 4242)
    server = AttachServer(opened, owner_uid=1000)
    path = await server.start()
    try:
        output, status, refusal = await _session(
            path, PIPE, wire.frame(wire.DATA, b"version\n"), wire.frame(wire.EOF))
    finally:
        await server.stop()
    assert refusal is not None and "uid 4242 may not attach" in refusal
    assert "(uid 1000)" in refusal
    assert output == b"" and status is None


async def test_a_console_that_does_not_speak_the_channel_is_refused(opened):
    server = AttachServer(opened)
    path = await server.start()
    try:
        output, status, refusal = await _session(path, b"GET / HTTP/1.0\r\n\r\n")
        assert output == b"" and status is None
        assert refusal is not None and "not a segcli console" in refusal
        _, _, refusal = await _session(path, wire.frame(wire.DATA, b"version\n"))
        assert refusal is not None and "no hello first" in refusal
    finally:
        await server.stop()


async def test_a_stale_socket_is_replaced_and_a_live_one_is_not(opened, data_dir):
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(os.fspath(data_dir / wire.SOCKET_NAME))
    stale.close()  # bound, never listening: what a killed process leaves
    server = AttachServer(opened)
    path = await server.start()
    try:
        _, status, _ = await _session(path, PIPE, wire.frame(wire.EOF))
        assert status == 0
        with pytest.raises(AttachError, match="another process takes consoles"):
            await AttachServer(opened).start()
    finally:
        await server.stop()


async def test_stopping_the_appliance_ends_an_attached_console(opened):
    server = AttachServer(opened)
    path = await server.start()
    reader, writer = await asyncio.open_unix_connection(os.fspath(path))
    writer.write(PIPE)
    await reader.readexactly(5)  # the first output frame's header: the session runs
    await server.stop()
    rest = await reader.read()
    writer.close()
    await writer.wait_closed()
    assert b"the appliance is stopping" in rest
    assert not server.consoles


async def test_a_dumb_terminal_gets_the_banner_echo_and_crlf(opened):
    server = AttachServer(opened)
    path = await server.start()
    try:
        output, status, refusal = await _session(
            path, wire.hello(wire.Hello(True, 30, 100, "dumb")), wire.window(40, 120),
            wire.frame(wire.DATA, b"vers"), wire.frame(wire.DATA, b"ion\r"),
            wire.frame(wire.DATA, b"\x04"))
    finally:
        await server.stop()
    text = output.decode()
    assert refusal is None and status == 0, text
    assert text.startswith("Last login: never\r\n")
    assert "mail1.example.com> version\r\n" in text  # echoed by the appliance, as over ssh -t
    assert "Current Version\r\n" in text


async def _read_until(reader: asyncio.StreamReader, text: bytes) -> bytes:
    """What the server sent (frames and all) up to and including *text*."""
    seen = b""
    while text not in seen:
        chunk = await reader.read(65536)
        assert chunk, f"the connection ended before {text!r}: {seen!r}"
        seen += chunk
    return seen


@dataclass
class _Tailing:
    """A piped console whose ``tail`` follows the (quiet) mail log."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    console: ConsoleConnection
    session: CliSession


async def _tailing(server: AttachServer) -> _Tailing:
    reader, writer = await asyncio.open_unix_connection(os.fspath(server.path))
    writer.write(PIPE + wire.frame(wire.DATA, b"tail mail_logs\n"))
    await _read_until(reader, b"Press Ctrl-C to stop.")
    [console] = server.consoles
    assert console.cli is not None and console.cli.session is not None
    assert console.cli.session.busy  # tail runs
    return _Tailing(reader, writer, console, console.cli.session)


async def _ended(awaitable: Awaitable[None], why: str) -> None:
    """Wait for *awaitable* without ever cancelling it (a cancelled wait for a console
    would cancel its CLI's task itself, and hide a session left running); fail with *why*
    if it has not ended within the test's patience."""
    waiting = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait([waiting], timeout=30)
    assert done == {waiting}, why
    waiting.result()


async def test_a_console_that_hangs_up_during_tail_leaves_no_session(opened):
    """``tail`` follows the log forever and writes nothing while no mail flows: the
    console hanging up still cancels it and ends the session at once, and a stop then has
    nothing left to wait for."""
    server = AttachServer(opened)
    path = await server.start()
    try:
        tailing = await _tailing(server)
        tailing.writer.close()  # the console hangs up (no end of input first)
        await tailing.writer.wait_closed()
        await _ended(tailing.console.finished(), "the session outlived its console's hang-up")
        assert not server.consoles
        assert not tailing.session.busy  # tail was cancelled, not left following the log
    finally:
        await server.stop()
    assert not path.exists()


async def test_stopping_cancels_a_consoles_running_command(opened):
    """A stop while ``tail`` runs ends the console's session, command and all: stop()
    waits for it to end, with no time limit needed."""
    server = AttachServer(opened)
    path = await server.start()
    tailing = await _tailing(server)
    await _ended(server.stop(), "the stop waits for a session that does not end")
    rest = await tailing.reader.read()
    tailing.writer.close()
    await tailing.writer.wait_closed()
    assert b"the appliance is stopping" in rest
    assert not server.consoles and not tailing.session.busy
    assert not path.exists()
