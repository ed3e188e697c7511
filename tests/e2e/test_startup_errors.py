"""A data directory that cannot be used stops a real ``segcli --data D`` with one line
naming the directory and what is wrong, a non-zero status, no traceback, and nothing
changed (issue 9, "Hardening", item 10).  Before, a read-only directory and a database
that is not SQLite, damaged or newer ended in SQLAlchemy or Alembic tracebacks.

Read-only, for real: tests run as root here, and root writes through a directory's mode
bits.  So as root the directory is made read-only by a read-only bind mount of it in a
mount namespace of segcli's own (``unshare --mount``; nothing outside sees it, and it
goes away with the process); as another user, ``chmod 555`` does.  Where neither can be
had the test is skipped, saying why.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, SEGCLI, run_segcli, segcli_env

PREFIX = "segcli: cannot use the data directory"
#: Runs "$@" with the directory $1 bind-mounted read-only over itself.
READ_ONLY_MOUNT = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && shift && exec "$@"'


def start(data_dir: Path, *wrapper: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*wrapper, *SEGCLI, "--data", str(data_dir)], input="version\n",
                          capture_output=True, text=True, timeout=90, env=segcli_env(),
                          cwd=REPO, start_new_session=True)


def assert_refused(result: subprocess.CompletedProcess[str], data_dir: Path, problem: str) -> None:
    assert result.returncode != 0
    assert result.stderr == f"{PREFIX} {data_dir}: {problem}\n", result.stderr
    assert result.stdout == ""


def snapshot(directory: Path) -> dict[str, bytes | None]:
    """Every file under *directory* with its bytes (None for a directory)."""
    return {str(path.relative_to(directory)): None if path.is_dir() else path.read_bytes()
            for path in sorted(directory.rglob("*"))}


def run_read_only(data_dir: Path) -> subprocess.CompletedProcess[str]:
    """Start segcli on *data_dir* made read-only in a way that holds for this user."""
    if os.geteuid() != 0:
        data_dir.chmod(0o555)
        try:
            return start(data_dir)
        finally:
            data_dir.chmod(0o755)
    if shutil.which("unshare") is None:
        pytest.skip("running as root without unshare(1): no read-only directory to be had")
    wrapper = ("unshare", "--mount", "--propagation", "private", "sh", "-c", READ_ONLY_MOUNT,
               "sh", str(data_dir))
    probe = subprocess.run([*wrapper, "sh", "-c", f"touch '{data_dir}/probe'"],
                           capture_output=True, text=True, start_new_session=True)
    if probe.returncode == 0 or "Read-only" not in probe.stderr:
        (data_dir / "probe").unlink(missing_ok=True)
        pytest.skip(f"running as root and no read-only bind mount to be had: {probe.stderr}")
    return start(data_dir, *wrapper)


def test_a_new_read_only_data_directory(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    result = run_read_only(data_dir)
    assert result.returncode != 0
    assert result.stderr.startswith(f"{PREFIX} {data_dir}: it is not writable ("), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not list(data_dir.iterdir())


def test_a_used_data_directory_made_read_only(data_dir):
    assert run_segcli(data_dir, "version\n").returncode == 0
    before = snapshot(data_dir)
    result = run_read_only(data_dir)
    assert result.stderr.startswith(f"{PREFIX} {data_dir}: it is not writable ("), result.stderr
    assert result.stderr.count("\n") == 1 and result.returncode != 0
    assert snapshot(data_dir) == before


def test_a_data_path_that_is_a_file(tmp_path):
    data_file = tmp_path / "data"
    data_file.write_text("not a directory\n")
    assert_refused(start(data_file), data_file, "it is a file, not a directory.")
    assert data_file.read_text() == "not a directory\n"


def test_a_data_path_under_a_file(tmp_path):
    (tmp_path / "file").write_text("in the way\n")
    data_dir = tmp_path / "file" / "data"
    assert_refused(start(data_dir), data_dir, f"{tmp_path / 'file'} is a file, not a directory.")


def test_a_database_that_is_not_sqlite(data_dir):
    data_dir.mkdir()
    database = data_dir / "segcli.db"
    database.write_bytes(b"These are the minutes of the meeting, not a database.\n" * 20)
    before = snapshot(data_dir)
    assert_refused(start(data_dir), data_dir, f"{database} is not an SQLite database.")
    assert snapshot(data_dir) == before


def test_a_database_path_that_is_a_directory(data_dir):
    (data_dir / "segcli.db").mkdir(parents=True)
    assert_refused(start(data_dir), data_dir,
                   f"{data_dir / 'segcli.db'} is not a file (the database must be one).")
    assert snapshot(data_dir) == {"segcli.db": None}


def used_database(data_dir: Path) -> Path:
    """A data directory one start made, its database checkpointed into one file."""
    assert run_segcli(data_dir, "version\n").returncode == 0
    database = data_dir / "segcli.db"
    with contextlib.closing(sqlite3.connect(database)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return database


def test_a_damaged_database(data_dir):
    database = used_database(data_dir)
    data = bytearray(database.read_bytes())
    for page in range(4096, len(data), 4096):  # every page but the header's, overwritten
        data[page + 8:page + 200] = b"\xff" * 192
    database.write_bytes(bytes(data))
    assert_refused(start(data_dir), data_dir,
                   f"{database} is damaged (database disk image is malformed).")
    assert database.read_bytes() == bytes(data)


def test_a_database_of_a_newer_segcli(data_dir):
    database = used_database(data_dir)
    with contextlib.closing(sqlite3.connect(database)) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'f0f0f0f0f0f0'")
        connection.commit()
    assert_refused(start(data_dir), data_dir,
                   f"{database} was made by a newer segcli (Can't locate revision identified "
                   "by 'f0f0f0f0f0f0'); start that segcli, or use another data directory.")
