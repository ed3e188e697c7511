"""Files the appliance cannot start without (TLS keys and certificates, SSH host keys):
written whole or not at all, and on the disk before anything relies on them.

``os.replace`` alone makes a write atomic for readers, not durable: after a crash of
the machine the rename may be on the disk while the data is not, and the file is empty
-- an appliance whose first start was interrupted could then never start ("Unable to
load PEM file").  So a file is written to a temporary name beside the target, flushed
and fsynced, renamed over the target, and the directory is fsynced so that the rename
is recorded too.

Such a file found damaged at a start is made anew when the appliance made it itself
(nobody else's key is lost), and :func:`announce_repair` says so in the log and to the
:data:`OPERATOR` logger: the operator must know at once (SSH clients will see a new host
key), and ``segcli`` shows that logger on standard error.  The engine itself only logs.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path


def write_durably(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace *path* with *data*, durably; the file has *mode* from its first byte (a
    private key is never readable by others, not even briefly)."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(descriptor, mode)  # a leftover of an earlier crash keeps its own mode
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    """Record the directory's entries (a rename into it) on the disk."""
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


#: Notices the operator must see when they happen, not only in the log file; the process
#: that runs the engine decides where they show (``segcli`` prints them on standard error).
OPERATOR = logging.getLogger("segcli.operator")


def announce_repair(log: logging.Logger, message: str) -> None:
    """A damaged file was made anew: say so in the component's log and to the operator."""
    log.warning("%s", message)
    OPERATOR.warning("%s", message)
