"""The data directory, checked before the store opens in it.

A start that cannot work must say what is wrong in one line, naming the directory
(``segcli: cannot use the data directory /x: it is not writable (Read-only file
system).``), and touch nothing -- not end in a traceback from SQLite or the operating
system.  :func:`prepare` finds what can be found before the database is opened (a path
that is a file, a directory that cannot be written); :func:`database_problem` words what
SQLite or the migrations then refuse (a file that is not an SQLite database).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from pathlib import Path

#: What SQLite says of a file that is not one of its databases.
_NOT_SQLITE = "file is not a database"


class DataDirError(Exception):
    """The data directory cannot be used; ``str()`` is the one-line reason."""

    def __init__(self, data_dir: Path, problem: str) -> None:
        super().__init__(f"cannot use the data directory {data_dir}: {problem}")


def prepare(data_dir: Path, database: Path) -> None:
    """Create *data_dir* if it is missing; DataDirError unless it is a directory this
    process can write in and *database* (in it) is a file or not there yet."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise DataDirError(data_dir, "it is a file, not a directory.") from None
    except NotADirectoryError:
        raise DataDirError(data_dir, f"{_file_above(data_dir)} is a file, not a directory."
                           ) from None
    except OSError as error:
        raise DataDirError(data_dir, f"it cannot be created ({error.strerror}).") from None
    _check_writable(data_dir)
    if database.exists() and not database.is_file():
        raise DataDirError(data_dir, f"{database} is not a file (the database must be one).")


def _check_writable(data_dir: Path) -> None:
    """Write and remove a file: the one test that holds for root, read-only mounts and
    access control lists alike (``os.access`` is not)."""
    try:
        descriptor, name = tempfile.mkstemp(dir=data_dir, prefix=".segcli-write-check-")
    except OSError as error:
        raise DataDirError(data_dir, f"it is not writable ({error.strerror}).") from None
    os.close(descriptor)
    os.unlink(name)


def _file_above(path: Path) -> Path:
    """The nearest ancestor of *path* that exists (it is the file in the way)."""
    for parent in path.parents:
        if parent.exists():
            return parent
    return path


def database_problem(database: Path, error: BaseException) -> str:
    """What is wrong with *database*, from what SQLite or the migrations raised."""
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    if reason == _NOT_SQLITE:
        return f"{database} is not an SQLite database."
    if "malformed" in reason:
        return f"{database} is damaged ({reason})."
    if "Can't locate revision" in reason:
        return (f"{database} was made by a newer segcli ({reason}); start that segcli, or "
                "use another data directory.")
    damage = _damage(database)
    if damage is not None:
        return f"{database} is damaged ({damage})."
    return f"{database} cannot be used ({reason})."


def _damage(database: Path) -> str | None:
    """What SQLite's own check finds wrong with *database*, or None.  Asked only after an
    error: a damaged schema page can show as a missing table, and the migrations then
    fail on what they try next ("table ... already exists") instead of on the damage."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            found = db.execute("PRAGMA quick_check(1)").fetchone()
    except sqlite3.DatabaseError as error:
        return str(error)
    return None if found is None or found[0] == "ok" else "database disk image is malformed"
