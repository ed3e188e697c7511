"""The owner-only socket of a control channel (segcli/private_socket.py), over real Unix
sockets.  What its callers make of it is tested with them (tests/segcli/attach/
test_server.py, tests/lab/test_control.py); here: the exact errors, the mode whatever the
umask, and a failure that leaves nothing behind."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import stat
from pathlib import Path

import pytest

from segcli.private_socket import SUN_PATH_MAX, PrivateSocket


class _Refused(Exception):
    """The caller's own exception class."""


def _private(path: Path) -> PrivateSocket:
    return PrivateSocket(path, "test socket", _Refused, hint="; try a shorter one")


async def _serve(sock: socket.socket) -> asyncio.AbstractServer:
    return await asyncio.start_unix_server(lambda reader, writer: writer.close(), sock=sock)


async def test_a_path_too_long_is_refused_in_the_callers_words(tmp_path):
    path = tmp_path / ("d" * SUN_PATH_MAX) / "x.sock"
    text = os.fspath(path)
    expected = (f"the test socket's path is too long for a Unix socket ({len(text)} "
                f"characters, at most {SUN_PATH_MAX}): {text}; try a shorter one")
    with pytest.raises(_Refused) as error:
        _private(path).checked_path()
    assert str(error.value) == expected
    with pytest.raises(_Refused) as error:
        await _private(path).listen(_serve, busy="busy")
    assert str(error.value) == expected
    assert not path.parent.exists()


async def test_a_path_whose_temporary_name_is_too_long_is_refused_before_binding(tmp_path):
    """The socket's own path fits, ``<name>.new`` does not: nothing is bound anywhere."""
    name = "s" * (SUN_PATH_MAX - len(os.fsencode(tmp_path)) - 1)
    path = tmp_path / name
    assert _private(path).checked_path() == os.fspath(path)
    with pytest.raises(_Refused, match=r"too long .*\.new; try a shorter one$"):
        await _private(path).listen(_serve, busy="busy")
    assert list(tmp_path.iterdir()) == []


async def test_the_socket_is_the_owners_only_whatever_the_umask(tmp_path):
    private = _private(tmp_path / "x.sock")
    previous = os.umask(0)
    try:
        server = await private.listen(_serve, busy="busy")
    finally:
        os.umask(previous)
    try:
        mode = private.path.stat().st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
        assert sorted(p.name for p in tmp_path.iterdir()) == ["x.sock"]
        with pytest.raises(_Refused, match=r"^the other one answers$"):
            await _private(private.path).listen(_serve, busy="the other one answers")
    finally:
        server.close()
        await server.wait_closed()
        private.remove()
    assert not private.path.exists()
    private.remove()  # removing it twice is no error: a stop after a failed start


async def test_a_stale_socket_is_replaced(tmp_path):
    path = tmp_path / "x.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(os.fspath(path))
    stale.close()  # bound, never listening: what a killed process leaves
    server = await _private(path).listen(_serve, busy="busy")
    try:
        _reader, writer = await asyncio.open_unix_connection(os.fspath(path))
        writer.close()
        await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()
        _private(path).remove()


async def test_a_socket_that_cannot_be_made_says_why_and_leaves_nothing(tmp_path):
    path = tmp_path / "x.sock"
    path.mkdir()  # a directory in the way: the rename over it fails
    (path / "keep").write_text("kept")
    with pytest.raises(_Refused, match=f"^cannot make the test socket {re.escape(str(path))}: "):
        await _private(path).listen(_serve, busy="busy")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.sock"]
    assert (path / "keep").read_text() == "kept"
