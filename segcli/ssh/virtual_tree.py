"""The file tree SFTP (:mod:`segcli.ssh.sftp`) and SCP (:mod:`segcli.ssh.scp`) show a
client: the root and one directory in it, ``/configuration`` (engine/config/files.py),
as on the appliance.

A path is resolved against this tree only (``..`` stops at ``/``), and a file name
follows the rules of the configuration directory (no hidden names).  Both transfers
resolve paths here, so that neither depends on the other.
"""

from __future__ import annotations

import posixpath

from twisted.conch.ssh.filetransfer import FX_NO_SUCH_FILE, SFTPError

from engine.config.files import ConfigFileError, check_file_name

ROOT = "/"
CONFIGURATION = "/configuration"


class VirtualPath:
    """A client's path resolved in the virtual tree: the root, the configuration
    directory, or a file name in it."""

    def __init__(self, raw: bytes) -> None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SFTPError(FX_NO_SUCH_FILE, "No such file") from None
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
        """The name of a file in /configuration (SFTPError for anything else)."""
        parent, name = posixpath.split(self.path)
        if parent != CONFIGURATION or not name or name.startswith("."):
            raise SFTPError(FX_NO_SUCH_FILE, f"No such file: {self.path}")
        try:
            return check_file_name(name)
        except ConfigFileError as exc:
            raise SFTPError(FX_NO_SUCH_FILE, str(exc)) from None
