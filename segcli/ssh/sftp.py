"""SFTP (and so modern ``scp``) over a virtual file system that holds one directory:
``/configuration``, the appliance's configuration directory (engine/config/files.py),
as on the appliance.  ``saveconfig`` files are fetched from it and files for
``loadconfig`` uploaded into it; nothing else of the host is visible.

A path is resolved against the virtual tree only (:mod:`segcli.ssh.virtual_tree`:
``..`` stops at ``/``), names follow the rules of the configuration directory (no
hidden names, no links out of it), and an upload becomes visible only once complete:
it is written to a hidden file and renamed into place when the client closes it.  A
connection lost in the middle leaves nothing behind.

Every problem is answered with a one-line status (:class:`~segcli.ssh.virtual_tree.PathError`):
lengths are checked before the file system is touched, and what the file system
refuses (a full disk, a permission) is reported by its reason, never as a traceback.
"""

from __future__ import annotations

import errno
import functools
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, BinaryIO, NoReturn, ParamSpec, Protocol, TypeVar

from twisted.conch.ls import lsLine
from twisted.conch.ssh.filetransfer import (
    FX_FAILURE,
    FX_NO_SUCH_FILE,
    FX_OP_UNSUPPORTED,
    FX_PERMISSION_DENIED,
    FXF_APPEND,
    FXF_CREAT,
    FXF_EXCL,
    FXF_READ,
    FXF_TRUNC,
    FXF_WRITE,
    FileTransferServer,
    ISFTPFile,
    ISFTPServer,
    SFTPError,
)
from twisted.internet import threads
from twisted.internet.protocol import connectionDone
from zope.interface import implementer

from engine.config.files import MAX_DOCUMENT_BYTES, config_dir, list_config_files
from segcli.ssh.virtual_tree import PathError, VirtualPath, shown

if TYPE_CHECKING:
    from collections.abc import Iterator

    from twisted.internet.defer import Deferred
    from twisted.python.failure import Failure

    from engine.store.users import User


class FilesAvatar(Protocol):
    """What the SFTP server reads from the avatar it adapts
    (:class:`segcli.ssh.session.SegcliAvatar`, which imports this module): who logged
    in, and the data directory whose /configuration it serves."""

    @property
    def user(self) -> User: ...

    @property
    def data_dir(self) -> Path: ...


def _readonly(avatar: FilesAvatar) -> bool:
    return str(avatar.user.role) == "readonly"


P = ParamSpec("P")
R = TypeVar("R")

#: What an OSError's errno is as an SFTP status (anything else: a failure).
_STATUS_OF_ERRNO = {errno.ENOENT: FX_NO_SUCH_FILE, errno.EACCES: FX_PERMISSION_DENIED,
                    errno.EPERM: FX_PERMISSION_DENIED}


def _status_of(error: OSError) -> PathError:
    """The one-line status for what the file system refused."""
    code = _STATUS_OF_ERRNO.get(error.errno or 0, FX_FAILURE)
    return PathError(code, error.strerror or "File system error")


def _file_system_errors(method: Callable[P, R]) -> Callable[P, R]:
    """An OSError from the file system answers as a one-line status with its reason
    (Conch would log a traceback for most and answer a bare "request failed")."""
    @functools.wraps(method)
    def answered(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except OSError as error:
            raise _status_of(error) from None
    return answered


@implementer(ISFTPServer)
class ConfigurationFiles:
    """The ISFTPServer of one login."""

    def __init__(self, avatar: FilesAvatar) -> None:
        self.avatar = avatar
        self.directory = config_dir(avatar.data_dir)

    def gotVersion(self, otherVersion: int, extData: dict[bytes, bytes]) -> dict[bytes, bytes]:
        return {}

    # -- paths -------------------------------------------------------------------------------
    def realPath(self, path: bytes) -> bytes:
        return VirtualPath(path).path.encode("utf-8")

    def _file(self, path: bytes) -> Path:
        """The real path of a file the client names, never outside the directory."""
        real = self.directory / VirtualPath(path).file_name()
        if real.is_symlink() or (real.exists() and not real.is_file()):
            raise SFTPError(FX_PERMISSION_DENIED, "Only regular files can be used here")
        return real

    def _writable(self) -> None:
        if _readonly(self.avatar):
            raise SFTPError(FX_PERMISSION_DENIED,
                            "Read-only operators cannot change the configuration directory")

    def _directory_stat(self) -> os.stat_result:
        self.directory.mkdir(parents=True, exist_ok=True)
        return os.stat(self.directory)

    # -- attributes -----------------------------------------------------------------------
    @_file_system_errors
    def getAttrs(self, path: bytes, followLinks: bool) -> dict:
        where = VirtualPath(path)
        if where.is_root or where.is_configuration:
            return _attrs(self._directory_stat())
        real = self._file(path)
        try:
            return _attrs(os.stat(real))
        except FileNotFoundError:
            raise PathError(FX_NO_SUCH_FILE, f"No such file: {shown(where.path)}") from None

    def setAttrs(self, path: bytes, attrs: dict) -> None:
        """Accepted and ignored (``put -p`` sends times and modes): the directory keeps
        its own permissions."""
        self.getAttrs(path, True)

    # -- directories ----------------------------------------------------------------------
    @_file_system_errors
    def openDirectory(self, path: bytes) -> DirectoryListing:
        where = VirtualPath(path)
        owner = self.avatar.user.name
        if where.is_root:
            return DirectoryListing([(b"configuration", self._directory_stat())], owner)
        if not where.is_configuration:
            raise PathError(FX_NO_SUCH_FILE, f"No such directory: {shown(where.path)}")
        self._directory_stat()
        entries = []
        for name in list_config_files(self.avatar.data_dir):
            try:
                entries.append((name.encode("utf-8"), os.stat(self.directory / name)))
            except OSError:
                continue  # removed meanwhile
        return DirectoryListing(entries, owner)

    def makeDirectory(self, path: bytes, attrs: dict) -> None:
        raise SFTPError(FX_PERMISSION_DENIED, "Directories cannot be made here")

    def removeDirectory(self, path: bytes) -> None:
        raise SFTPError(FX_PERMISSION_DENIED, "Directories cannot be removed here")

    # -- files ------------------------------------------------------------------------------
    @_file_system_errors
    def openFile(self, filename: bytes, flags: int, attrs: dict) -> Upload | Download:
        if flags & (FXF_WRITE | FXF_APPEND | FXF_CREAT | FXF_TRUNC):
            self._writable()
            self.directory.mkdir(parents=True, exist_ok=True)  # an upload may come first
            return Upload(self._file(filename), exclusive=bool(flags & FXF_EXCL),
                          keep=not flags & FXF_TRUNC)
        if not flags & FXF_READ:
            raise SFTPError(FX_OP_UNSUPPORTED, "Unsupported open flags")
        real = self._file(filename)
        try:
            return Download(open(real, "rb"))
        except FileNotFoundError:
            raise SFTPError(FX_NO_SUCH_FILE, "No such file") from None

    @_file_system_errors
    def removeFile(self, filename: bytes) -> None:
        self._writable()
        try:
            os.remove(self._file(filename))
        except FileNotFoundError:
            raise SFTPError(FX_NO_SUCH_FILE, "No such file") from None

    @_file_system_errors
    def renameFile(self, oldpath: bytes, newpath: bytes) -> None:
        self._writable()
        old, new = self._file(oldpath), self._file(newpath)
        if new.exists():  # SFTP v3 rename never replaces
            raise SFTPError(FX_FAILURE, "A file of that name exists")
        try:
            os.rename(old, new)
        except FileNotFoundError:
            raise SFTPError(FX_NO_SUCH_FILE, "No such file") from None

    def readLink(self, path: bytes) -> bytes:
        raise SFTPError(FX_OP_UNSUPPORTED, "There are no links here")

    def makeLink(self, linkPath: bytes, targetPath: bytes) -> None:
        raise SFTPError(FX_PERMISSION_DENIED, "Links cannot be made here")

    def extendedRequest(self, extendedName: bytes, extendedData: bytes) -> bytes:
        raise NotImplementedError("no extensions")


def _attrs(status: os.stat_result) -> dict:
    return {"size": status.st_size, "uid": status.st_uid, "gid": status.st_gid,
            "permissions": status.st_mode, "atime": int(status.st_atime),
            "mtime": int(status.st_mtime)}


class DirectoryListing:
    """What READDIR returns: ``(name, ls -l line, attributes)`` for each entry."""

    def __init__(self, entries: list[tuple[bytes, os.stat_result]], owner: str) -> None:
        self._entries = entries
        self._owner = owner

    def __iter__(self) -> Iterator[tuple[bytes, bytes, dict]]:
        for name, status in self._entries:
            shown = SimpleNamespace(st_mode=status.st_mode, st_nlink=status.st_nlink,
                                    st_uid=self._owner, st_gid=self._owner,
                                    st_size=status.st_size, st_mtime=status.st_mtime)
            yield name, lsLine(name, shown).encode("utf-8"), _attrs(status)

    def close(self) -> None:
        pass


@implementer(ISFTPFile)
class Download:
    """A configuration file being read."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    @_file_system_errors
    def readChunk(self, offset: int, length: int) -> bytes:
        self._stream.seek(offset)
        data = self._stream.read(min(length, 256 * 1024))
        if not data:
            raise EOFError("end of file")
        return data

    def writeChunk(self, offset: int, data: bytes) -> None:
        raise SFTPError(FX_PERMISSION_DENIED, "The file is open for reading")

    @_file_system_errors
    def getAttrs(self) -> dict:
        return _attrs(os.fstat(self._stream.fileno()))

    def setAttrs(self, attrs: dict) -> None:
        pass

    def close(self) -> None:
        self._stream.close()

    def abandon(self) -> None:
        self.close()


@implementer(ISFTPFile)
class Upload:
    """A file being written: into a hidden file, renamed over *target* when the client
    closes it (``loadconfig`` never reads half a document), dropped if the client
    goes away first.  At most :data:`MAX_DOCUMENT_BYTES`, like what loadconfig reads."""

    def __init__(self, target: Path, *, exclusive: bool, keep: bool) -> None:
        if exclusive and target.exists():
            raise SFTPError(FX_FAILURE, "The file exists")
        self._target = target
        self._partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}.upload")
        #: Why the upload was given up (what every later request on it is answered).
        self._refused: str | None = None
        self._stream = open(self._partial, "w+b")  # noqa: SIM115 - closed by close/abandon
        try:
            if keep and target.exists():  # a write into an existing file keeps the rest of it
                self._stream.write(target.read_bytes()[:MAX_DOCUMENT_BYTES])
        except OSError:
            self.abandon()
            raise

    def _usable(self) -> None:
        """Refuse a request on an upload given up (the client may have sent more)."""
        if self._refused is not None:
            raise PathError(FX_FAILURE, self._refused)

    @_file_system_errors
    def readChunk(self, offset: int, length: int) -> bytes:
        self._usable()
        self._stream.seek(offset)
        data = self._stream.read(length)
        if not data:
            raise EOFError("end of file")
        return data

    def writeChunk(self, offset: int, data: bytes) -> None:
        self._usable()
        if offset + len(data) > MAX_DOCUMENT_BYTES:
            self._give_up(f"Files here are at most {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB")
        try:
            self._stream.seek(offset)
            self._stream.write(data)
        except OSError as error:  # a full disk: nothing half-written is ever published
            self._give_up(_status_of(error).message)

    def _give_up(self, reason: str) -> NoReturn:
        self._refused = reason
        self.abandon()
        raise PathError(FX_FAILURE, reason)

    @_file_system_errors
    def getAttrs(self) -> dict:
        self._usable()
        return _attrs(os.fstat(self._stream.fileno()))

    def setAttrs(self, attrs: dict) -> None:
        pass

    def close(self) -> Deferred[None] | None:
        """Make the upload visible; the disk flush runs in a thread."""
        if self._stream.closed:
            return None
        return threads.deferToThread(self._finish)

    def _finish(self) -> None:
        """Flush, then rename into place; if the disk refuses, nothing is published and
        the client hears why."""
        try:
            self._stream.flush()
            os.fsync(self._stream.fileno())
            self._stream.close()
            os.chmod(self._partial, stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP)
            os.replace(self._partial, self._target)
        except OSError as error:
            self.abandon()
            raise _status_of(error) from None

    def abandon(self) -> None:
        if not self._stream.closed:
            self._stream.close()
        self._partial.unlink(missing_ok=True)


class ConfigurationTransfer(FileTransferServer):
    """Conch's SFTP server, except that a connection lost mid-upload abandons the
    upload (Conch would close, i.e. complete, it)."""

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        for handle in list(self.openFiles):
            self.openFiles.pop(handle).abandon()
        super().connectionLost(reason)

