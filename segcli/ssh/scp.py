"""The legacy SCP protocol (``scp -O``, and the ``scp`` module that paramiko-based tools
such as netmiko's ``file_transfer`` use) over the same ``/configuration`` directory as
SFTP (:mod:`segcli.ssh.sftp`; both resolve paths in :mod:`segcli.ssh.virtual_tree`).
The session adapter (:mod:`segcli.ssh.session`) hands an ``scp`` exec request here
before any shell sees it.

The client runs ``scp -t <path>`` (it sends files: we are the sink) or ``scp -f <path>``
(it fetches them: we are the source) as an exec request and the two sides talk the
rcp protocol over the channel: control lines (``C0644 <size> <name>``, ``T<times>``),
file bytes, and one-byte answers (``\\0`` fine, ``\\1`` + message a warning, ``\\2`` +
message fatal).  Only regular files in ``/configuration`` can be copied; directories
(``-r``) cannot.  As with SFTP, an upload is visible only once complete (a hidden file,
fsynced, renamed into place) and read-only operators cannot upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import os
import posixpath
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from twisted.conch.ssh.filetransfer import FX_NO_SUCH_FILE, SFTPError

from commands.command_line import split_words
from engine.config.files import MAX_DOCUMENT_BYTES, config_dir, list_config_files
from segcli.ssh.channel import ClientBytes, exit_status_of, send_exit_status
from segcli.ssh.virtual_tree import CONFIGURATION, VirtualPath, shown

if TYPE_CHECKING:
    from twisted.conch.ssh.session import SSHSessionProcessProtocol

OK = b"\0"
MAX_CONTROL_LINE = 4096


class ScpError(Exception):
    """Ends the transfer: the message goes to the client as a fatal error (``\\2``)."""


@dataclass(frozen=True)
class ScpCommand:
    """``scp [-v] [-p] [-d] [-q] -t|-f [--] <path>`` as the client's scp runs it remotely."""

    sink: bool  # -t: the client sends; -f: it fetches
    path: str
    preserve: bool = False
    target_is_directory: bool = False

    @classmethod
    def parse(cls, command: str) -> ScpCommand | None:
        """The command, or None when it is not an SCP transfer this server can do."""
        try:
            words = split_words(command)  # shlex's quoting in linear time
        except ValueError:
            return None
        if not words or words[0] != "scp":
            return None
        flags: set[str] = set()
        paths: list[str] = []
        options_done = False
        for word in words[1:]:
            if not options_done and word == "--":
                options_done = True
            elif not options_done and word.startswith("-") and len(word) > 1:
                flags.update(word[1:])
            else:
                paths.append(word)
        direction = flags & {"t", "f"}
        if len(direction) != 1 or len(paths) != 1 or flags - set("tfpdvq"):
            return None  # -r (directories) and anything unknown
        return cls(sink="t" in flags, path=paths[0], preserve="p" in flags,
                   target_is_directory="d" in flags)


class ScpTransfer:
    """One ``scp -t`` or ``scp -f`` on a session channel."""

    def __init__(self, command: ScpCommand, proto: SSHSessionProcessProtocol, data_dir: Path, *,
                 may_write: bool) -> None:
        self.command = command
        self._proto = proto
        self._data_dir = data_dir
        self._directory = config_dir(data_dir)
        self._may_write = may_write
        self._input = bytearray()
        self._more = asyncio.Event()
        self._eof = False
        self._closed = False
        self._task: asyncio.Task[int] | None = None
        self._on_end: Callable[[], None] = lambda: None

    # -- life cycle -----------------------------------------------------------------------
    def start(self, on_end: Callable[[], None]) -> None:
        self._on_end = on_end
        self._task = asyncio.ensure_future(self._run())
        self._task.add_done_callback(self._ended)
        self._proto.makeConnection(ClientBytes(self))

    async def finished(self) -> None:
        if self._task is not None:
            with contextlib.suppress(BaseException):
                await self._task

    async def _run(self) -> int:
        try:
            if self.command.sink:
                return await self._receive()
            return await self._send()
        except ScpError as error:
            self._write(b"\x02scp: " + str(error).encode("utf-8", "replace") + b"\n")
            return 1
        except EOFError:
            return 1  # the client went away mid-transfer: nothing was kept

    def _ended(self, task: asyncio.Task[int]) -> None:
        status = exit_status_of(task, "SCP transfer")
        if not self._closed:
            self._closed = True
            send_exit_status(self._proto, status)
        self._on_end()

    # -- events from the channel -------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        self._input += data
        self._more.set()

    def end_of_input(self) -> None:
        self._eof = True
        self._more.set()

    def channel_closed(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def resized(self) -> None:
        pass

    # -- reading and writing ---------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if not self._closed:
            self._proto.write(data)

    async def _wait(self) -> None:
        if self._eof:
            raise EOFError
        self._more.clear()
        await self._more.wait()

    async def _line(self) -> bytes | None:
        """A control line without its ``\\n``; None at the end of input between files."""
        while b"\n" not in self._input:
            if len(self._input) > MAX_CONTROL_LINE:
                raise ScpError("protocol error: control line too long")
            if self._eof:
                if self._input:
                    raise ScpError("protocol error: incomplete control line")
                return None
            await self._wait()
        line, _, rest = bytes(self._input).partition(b"\n")
        self._input = bytearray(rest)
        return line

    async def _exactly(self, size: int) -> bytes:
        while len(self._input) < size:
            await self._wait()
        data = bytes(self._input[:size])
        del self._input[:size]
        return data

    async def _answer(self) -> None:
        """The client's one-byte answer; its warning or error ends the transfer."""
        code = await self._exactly(1)
        if code != OK:
            message = await self._line()
            raise ScpError((message or b"").decode("utf-8", "replace").strip() or "refused")

    # -- the client sends (scp -t) ----------------------------------------------------------
    async def _receive(self) -> int:
        target = _resolve(self.command.path)
        into_directory = target.is_configuration or target.is_root
        if self.command.target_is_directory and not into_directory:
            raise ScpError(f"{shown(target.path)}: Not a directory")
        if target.is_root:
            raise ScpError("/: files can only be copied into /configuration")
        if not self._may_write:
            raise ScpError("Read-only operators cannot change the configuration directory")
        status = 0
        self._write(OK)
        while (line := await self._line()) is not None:
            kind, body = line[:1], line[1:].decode("utf-8", "replace")
            if kind == b"C":
                status |= await self._receive_file(body, target, into_directory)
            elif kind in (b"T", b"E"):
                self._write(OK)  # times are not kept; the end of a directory we never began
            elif kind == b"D":
                raise ScpError("directories cannot be copied here")
            elif kind in (b"\x01", b"\x02"):
                status = 1  # the client's own trouble (a file it could not read)
            else:
                raise ScpError("protocol error: unexpected control line")
        return status

    async def _receive_file(self, header: str, target: VirtualPath, into_directory: bool) -> int:
        try:
            mode, size_text, name = header.split(" ", 2)
            size = int(size_text)
            int(mode, 8)
        except ValueError:
            raise ScpError("protocol error: bad file line") from None
        if size < 0 or size > MAX_DOCUMENT_BYTES:
            raise ScpError(f"{shown(name)}: files here are at most "
                           f"{MAX_DOCUMENT_BYTES // (1024 * 1024)} MB")
        where = _resolve(posixpath.join(CONFIGURATION, name)) if into_directory else target
        try:
            file_name = where.file_name()
        except SFTPError as error:
            raise ScpError(error.message) from None
        real = self._directory / file_name
        if _file_kind(real, shown(where.path)) == "other":
            raise ScpError(f"{shown(where.path)}: only regular files can be used here")
        self._write(OK)
        data = await self._exactly(size)
        await self._answer()
        try:
            await asyncio.to_thread(_store, self._directory, real, data)
        except OSError as error:
            self._write(f"\x01scp: {shown(where.path)}: {error.strerror}\n".encode())
            return 1
        self._write(OK)
        return 0

    # -- the client fetches (scp -f) ----------------------------------------------------------
    async def _send(self) -> int:
        # The client says it is ready before anything is sent, even an error, as with
        # OpenSSH's scp (response() before source()): paramiko's scp module only reads
        # while the channel is open, so an error and the close sent at once were missed.
        await self._answer()
        names = self._matching(_resolve(self.command.path))
        for name in names:
            try:
                data, status = await asyncio.to_thread(_load, self._directory / name)
            except OSError as error:
                self._write(f"\x01scp: {CONFIGURATION}/{name}: {error.strerror}\n".encode())
                return 1
            if self.command.preserve:
                self._write(f"T{int(status.st_mtime)} 0 {int(status.st_atime)} 0\n".encode())
                await self._answer()
            self._write(f"C0644 {len(data)} {name}\n".encode())
            await self._answer()
            self._write(data + OK)
            await self._answer()
        return 0

    def _matching(self, where: VirtualPath) -> list[str]:
        """The files a fetch names: one, or those a wildcard in the name matches."""
        path = shown(where.path)
        if where.is_root or where.is_configuration:
            raise ScpError(f"{path}: not a regular file")
        parent, pattern = posixpath.split(where.path)
        if parent == CONFIGURATION and any(c in pattern for c in "*?["):
            try:
                names = [n for n in list_config_files(self._data_dir)
                         if fnmatch.fnmatchcase(n, pattern)]
            except OSError as error:
                raise ScpError(f"{CONFIGURATION}: {error.strerror}") from None
            if not names:
                raise ScpError(f"{path}: No such file or directory")
            return names
        try:
            name = where.file_name()
        except SFTPError as error:  # what is not a file here reads as scp says it
            raise ScpError(f"{path}: No such file or directory" if error.code == FX_NO_SUCH_FILE
                           else error.message) from None
        real = self._directory / name
        if _file_kind(real, path) != "file":
            raise ScpError(f"{path}: No such file or directory")
        return [name]


def _resolve(path: str) -> VirtualPath:
    """*path* in the virtual tree (its length checked before anything else)."""
    try:
        return VirtualPath(path.encode("utf-8"))
    except SFTPError as error:
        raise ScpError(f"{shown(path)}: {error.message}") from None


def _file_kind(real: Path, shown_as: str) -> str:
    """``file``, ``absent`` or ``other`` (a link, a directory...); what the file system
    refuses ends the transfer with its reason."""
    try:
        if real.is_symlink():
            return "other"
        if not real.exists():
            return "absent"
        return "file" if real.is_file() else "other"
    except OSError as error:
        raise ScpError(f"{shown_as}: {error.strerror}") from None


def _store(directory: Path, target: Path, data: bytes) -> None:
    """Write *data* as *target*, visible only once complete."""
    directory.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}.upload")
    try:
        with open(partial, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(partial, stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _load(path: Path) -> tuple[bytes, os.stat_result]:
    with open(path, "rb") as stream:
        return stream.read(MAX_DOCUMENT_BYTES + 1)[:MAX_DOCUMENT_BYTES], os.fstat(stream.fileno())
