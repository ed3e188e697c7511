"""Owner-only Unix sockets in the data directory: the control channels of a running process.

Other processes reach a running appliance or lab through a Unix socket in its data
directory: ``cli.sock`` takes consoles (segcli/attach/server.py), ``lab.sock`` takes the
lab's control requests (segcli/lab/control.py).  Whoever may connect drives the appliance,
so such a socket must only ever be reachable by its owner:

- it is bound under a temporary name (``<name>.new``), made mode 0600 and only then renamed
  into place, so it is never reachable with a wider mode (``bind`` follows the umask);
- a socket nobody answers on is left over from a process that died (a killed process
  cannot remove it) and the rename replaces it; one that answers belongs to a live
  process, and the caller refuses to start (:func:`answers`);
- Linux takes at most :data:`SUN_PATH_MAX` bytes of path in a socket address: a longer
  path is refused with an error that says so (:func:`checked_path`), not a bare OSError;
- the socket is removed when its server stops (:func:`remove`).

The callers keep their own exception class and wording: :class:`PrivateSocket` is told
what the socket is called in messages (*what*), which exception to raise (*error*) and any
advice to add to the too-long error (*hint*).

Tests: tests/segcli/test_private_socket.py, tests/segcli/attach/test_server.py,
tests/lab/test_control.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SUN_PATH_MAX", "PrivateSocket", "answers"]

#: The longest path a Unix socket address takes on Linux (sun_path, with its NUL).
SUN_PATH_MAX = 107
#: What a caller does with the bound, listening-ready socket: start its asyncio server.
Serve = Callable[[socket.socket], Awaitable[asyncio.AbstractServer]]


@dataclass(frozen=True)
class PrivateSocket:
    """The owner-only socket at *path*; *what* names it in errors ("console socket"),
    *error* is the exception raised, *hint* ends the too-long error ("; use ...")."""

    path: Path
    what: str
    error: Callable[[str], Exception]
    hint: str = ""

    def checked_path(self) -> str:
        """The path as text; *error* when it is too long for a Unix socket."""
        return self._checked(self.path)

    def _checked(self, path: Path) -> str:
        text = os.fspath(path)
        if len(os.fsencode(text)) > SUN_PATH_MAX:
            raise self.error(f"the {self.what}'s path is too long for a Unix socket "
                             f"({len(text)} characters, at most {SUN_PATH_MAX}): {text}"
                             f"{self.hint}")
        return text

    async def listen(self, serve: Serve, *, busy: str) -> asyncio.AbstractServer:
        """Bind the socket (mode 0600, in place of a stale one) and hand it to *serve*;
        *error* with *busy* when a live process answers on the path, or with the reason
        when the socket cannot be made."""
        self.checked_path()
        temporary = self.path.with_name(self.path.name + ".new")
        self._checked(temporary)
        if await answers(self.path):
            raise self.error(busy)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
            sock.bind(os.fspath(temporary))
            os.chmod(temporary, 0o600)
            os.replace(temporary, self.path)  # a stale socket of a dead process goes here
            sock.setblocking(False)
            return await serve(sock)
        except OSError as exc:
            sock.close()
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise self.error(f"cannot make the {self.what} {self.path}: "
                             f"{exc.strerror or exc}") from None

    def remove(self) -> None:
        """The server stopped: nobody answers here any more."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


async def answers(path: Path) -> bool:
    """Does a live process accept connections on the socket at *path*?"""
    if not path.exists():
        return False
    try:
        _reader, writer = await asyncio.open_unix_connection(os.fspath(path))
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return True
