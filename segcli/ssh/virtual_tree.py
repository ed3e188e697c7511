"""The file tree SFTP (:mod:`segcli.ssh.sftp`) and SCP (:mod:`segcli.ssh.scp`) show a
client: the root and one directory in it, ``/configuration`` (engine/config/files.py),
as on the appliance.

A path is resolved against this tree only (``..`` stops at ``/``), and a file name
follows the rules of the configuration directory (no hidden names).  Both transfers
resolve paths here, so that neither depends on the other.

Lengths are checked before anything touches the file system (a too-long name would
otherwise fail deep in ``os.stat`` with a traceback), and every problem is a
:class:`PathError`: an SFTP status whose message is one line of ASCII, which is all
Conch can send (anything else makes it fail while answering, and the client waits for
an answer forever).
"""

from __future__ import annotations

import posixpath

from twisted.conch.ssh.filetransfer import FX_FAILURE, FX_NO_SUCH_FILE, SFTPError

from engine.config.files import ConfigFileError, check_file_name

ROOT = "/"
CONFIGURATION = "/configuration"
#: The longest path a client may name, in bytes (Linux's PATH_MAX); a longer one is
#: refused before it is even resolved.
MAX_PATH_BYTES = 4096
#: The longest file name in /configuration, in bytes: NAME_MAX (255) less what the
#: hidden name of an upload in progress adds around it (``.<name>.<8 hex>.upload``).
MAX_NAME_BYTES = 255 - len("." + ".00000000.upload")
#: How much of a path an error message shows.
_SHOWN = 80


class PathError(SFTPError):
    """A path problem, as an SFTP status with a message Conch can send: one line of
    ASCII, other characters escaped (``\\xe9``, ``\\n``)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, one_line(message))


def one_line(text: str) -> str:
    """*text* in printable ASCII, anything else escaped as Python would write it."""
    return "".join(char if " " <= char <= "~" else char.encode("unicode_escape").decode("ascii")
                   for char in text)


def shown(path: str) -> str:
    """A path as an error message shows it: a long one is cut in the middle."""
    if len(path) <= _SHOWN:
        return path
    return f"{path[:_SHOWN - 20]}...{path[-17:]}"


class VirtualPath:
    """A client's path resolved in the virtual tree: the root, the configuration
    directory, or a file name in it."""

    def __init__(self, raw: bytes) -> None:
        if len(raw) > MAX_PATH_BYTES:
            raise PathError(FX_FAILURE, f"File name too long: a path has at most "
                                        f"{MAX_PATH_BYTES} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise PathError(FX_NO_SUCH_FILE, "No such file") from None
        # Relative paths start in /configuration, where a session lands.
        self.path = posixpath.normpath(posixpath.join(CONFIGURATION, text))
        if self.path.startswith("//"):
            self.path = self.path[1:]

    @property
    def is_root(self) -> bool:
        return self.path == ROOT

    @property
    def is_configuration(self) -> bool:
        return self.path == CONFIGURATION

    def file_name(self) -> str:
        """The name of a file in /configuration (PathError for anything else)."""
        parent, name = posixpath.split(self.path)
        if parent != CONFIGURATION or not name or name.startswith("."):
            raise PathError(FX_NO_SUCH_FILE, f"No such file: {shown(self.path)}")
        if len(name.encode("utf-8")) > MAX_NAME_BYTES:
            raise PathError(FX_FAILURE, f"{shown(name)}: File name too long (at most "
                                        f"{MAX_NAME_BYTES} bytes)")
        try:
            return check_file_name(name)
        except ConfigFileError as exc:
            raise PathError(FX_NO_SUCH_FILE, str(exc)) from None
