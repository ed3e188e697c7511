"""The appliance's configuration directory (``/configuration`` on the appliance).

``saveconfig`` writes here and ``loadconfig`` reads from here; the SSH/SFTP server
serves the same directory as ``/configuration``, so the rules for which names may
be used live in the engine and not in any one command.  Messages are for a person,
in the appliance's wording.

Tests: tests/engine/config/test_files.py.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from engine.config.text import text_problem

CONFIG_DIR_NAME = "configuration"
#: Configuration documents are a few kilobytes; this only guards against loading a
#: wrong (huge) file by mistake.
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
#: The longest name a file system takes (NAME_MAX), in bytes of UTF-8.
MAX_NAME_BYTES = 255


class ConfigFileError(ValueError):
    """A file cannot be used as asked; ``str(error)`` is the message for the person."""


def config_dir(data_dir: Path) -> Path:
    """``<data dir>/configuration``: one place for the CLI and the SFTP server to agree on."""
    return data_dir / CONFIG_DIR_NAME


def saved_config_name(model: str, serial: str, moment: datetime) -> str:
    """``<model>-<serial>-<YYYYMMDDTHHMMSS>.xml`` in UTC, the name ``saveconfig`` prints."""
    return f"{model}-{serial}-{moment.astimezone(UTC):%Y%m%dT%H%M%S}.xml"


def list_config_files(data_dir: Path) -> list[str]:
    """Names of the regular files in the directory, sorted (saved names sort by time).

    Hidden files (a write in progress) are left out.
    """
    directory = config_dir(data_dir)
    if not directory.is_dir():
        return []
    return sorted(entry.name for entry in directory.iterdir()
                  if not entry.name.startswith(".") and entry.is_file())


def write_config_file(data_dir: Path, name: str, text: str) -> Path:
    """Write *text* as *name*, atomically: a reader never sees half a document."""
    directory = config_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / check_file_name(name)
    partial = directory / f".{name}.partial"
    with open(partial, "w", encoding="utf-8") as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(partial, target)
    return target


def check_file_name(name: str) -> str:
    """A bare name inside the configuration directory, never a way out of it."""
    if not name:
        raise ConfigFileError("Error: you must enter a file name.")
    _check_printable(name)
    if "/" in name or "\\" in name or name in (".", ".."):
        raise ConfigFileError(
            f'Error: "{name}" is not a file name: only files in the configuration '
            'directory can be used here, named without "/", "\\" or "..".'
        )
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise ConfigFileError(f"Error: the file name is too long (at most {MAX_NAME_BYTES} bytes).")
    return name


def _check_printable(name: str) -> None:
    """A name with a control character is refused before it is used or quoted back."""
    problem = text_problem(name)
    if problem is not None:
        raise ConfigFileError(f"Error: a file name cannot contain {problem}.")


def is_host_path(name: str) -> bool:
    """Whether the console user named a path on the host rather than a saved file."""
    return "/" in name or os.sep in name or name.startswith("~")


def locate_config_file(data_dir: Path, name: str, *, host_paths: bool) -> Path:
    """The file *name* stands for: a name in the directory, or (only when *host_paths*,
    i.e. at the appliance's own console) a path on the host."""
    _check_printable(name)
    if host_paths and is_host_path(name):
        return Path(name).expanduser()
    directory = config_dir(data_dir)
    path = directory / check_file_name(name)
    if not host_paths and path.exists() and not _inside(path, directory):
        # A link that leads out of the directory: remote users see only the directory.
        raise ConfigFileError(f'Error: "{name}" is not a file in the configuration directory.')
    return path


def read_config_file(path: Path, shown_as: str, *, limit: int = MAX_DOCUMENT_BYTES,
                     what: str = "a configuration") -> bytes:
    """The bytes of a document (the XML declaration names their encoding), at most *limit*
    of them: a file the user names is checked before anything reads it whole."""
    _check_printable(shown_as)
    try:
        exists, regular = path.exists(), path.is_file()
    except OSError as exc:  # a name too long, a loop of links...
        raise ConfigFileError(f'Error: the file "{shown_as}" cannot be read: {exc.strerror}.') from None
    if not exists:
        raise ConfigFileError(f'Error: the file "{shown_as}" does not exist.')
    if not regular:
        raise ConfigFileError(f'Error: "{shown_as}" is not a regular file.')
    try:
        with open(path, "rb") as stream:
            data = stream.read(limit + 1)
    except OSError as exc:
        raise ConfigFileError(f'Error: the file "{shown_as}" cannot be read: {exc.strerror}.') from None
    if len(data) > limit:
        raise ConfigFileError(
            f'Error: the file "{shown_as}" is too large to be {what} '
            f"(more than {limit // (1024 * 1024)} MB)."
        )
    return data


def _inside(path: Path, directory: Path) -> bool:
    return path.resolve().is_relative_to(directory.resolve())
