"""The spool on real files: durable writes (the file and its directory fsynced), reads,
a missing file named as such, and the store's view of which files are done."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.store import queue_store
from engine.store.database import Store
from engine.store.group_commit import GroupCommitWriter
from engine.store.queue_store import NewMessage
from engine.store.spool import Spool, SpoolMissing, spooled_body


def test_a_written_file_is_fsynced_with_its_directory(tmp_path, monkeypatch):
    spool = Spool(tmp_path / "spool")
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(descriptor: int) -> None:  # the real fsync, noting what it was given
        synced.append(os.readlink(f"/proc/self/fd/{descriptor}"))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)
    body = os.urandom(3 * 1024 * 1024 + 17)  # more than one piece, not a whole one
    try:
        spool.write_now("7.eml", body)
    finally:
        spool.close()
    assert (tmp_path / "spool" / "7.eml").read_bytes() == body
    assert synced == [str(tmp_path / "spool" / "7.eml"), str(tmp_path / "spool")]
    assert oct((tmp_path / "spool" / "7.eml").stat().st_mode & 0o777) == "0o600"


def test_a_failed_write_leaves_no_file(tmp_path, monkeypatch):
    spool = Spool(tmp_path / "spool")

    def full(descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        spool.write_now("8.eml", b"x" * 100)
    spool.close()
    assert spool.names() == set()


def test_reading_a_missing_file_names_it(tmp_path):
    spool = Spool(tmp_path / "spool")
    spool.close()
    with pytest.raises(SpoolMissing, match=r"its body file .*/spool/9\.eml is missing"):
        spool.read_now("9.eml")
    spool.remove_now(["9.eml"])  # removing what is not there is no error


def test_a_spooled_body_is_the_file_or_the_pieces_around_it():
    spooled = b"FILE"
    assert spooled_body(b"", 0, spooled) is spooled  # no copy
    head, body, tail = spooled_body(b"headtail", 4, spooled)
    assert (head, tail) == (b"head", b"tail") and body is spooled


def _message(mid: int, state: str, spool: str | None, body: bytes = b"") -> NewMessage:
    return NewMessage(mid=mid, icid=1, sender="a@example.org", recipients=("b@example.com",),
                      body=body, received_at=1.0, message_id=f"<{mid}@x>", subject="s",
                      direction="incoming", state=state, spool=spool, spool_size=10)


def _store(tmp_path: Path, messages: list[NewMessage]) -> Store:
    store = Store.open(tmp_path / "data")
    with store.engine.begin() as connection:
        for message in messages:
            queue_store.insert_message(message)(connection)
    return store


def test_the_store_says_which_files_are_done_and_reads_bodies_once(tmp_path):
    # 1.eml: a message done and its journal copy (head and tail in the row) still queued;
    # 3.eml: every message naming it done; 4.eml: named, but not on the disk
    store = _store(tmp_path, [
        _message(1, "done", "1.eml"), _message(2, "queued", "1.eml", b"HEADTAIL"),
        _message(3, "done", "3.eml"), _message(4, "queued", "4.eml"), _message(5, "queued", None,
                                                                             b"small body")])
    try:
        assert queue_store.spool_done(store.engine) == (["3.eml"], True)
        assert queue_store.spooled_names(store.engine) == {"1.eml", "3.eml", "4.eml"}
        reads: list[str] = []

        def read(name: str) -> bytes:
            reads.append(name)
            if name == "4.eml":
                raise SpoolMissing(tmp_path / name)
            return b"<original>"

        rows = [{"mid": 1, "spool": "1.eml", "spool_at": 0, "body": b""},
                {"mid": 2, "spool": "1.eml", "spool_at": 4, "body": b"HEADTAIL"},
                {"mid": 4, "spool": "4.eml", "spool_at": 0, "body": b""},
                {"mid": 5, "spool": None, "spool_at": None, "body": b"small body"}]
        missing = queue_store.with_bodies(rows, read)
        assert reads == ["1.eml", "4.eml"]  # each file once
        assert [row["body"] for row in rows] == [b"<original>", (b"HEAD", b"<original>", b"TAIL"),
                                                 b"", b"small body"]
        assert rows[1]["body"][1] is rows[0]["body"]  # one read serves both rows
        assert [(row["mid"], str(error)) for row, error in missing] == [
            (4, f"its body file {tmp_path / '4.eml'} is missing")]
    finally:
        store.close()


def test_done_rows_forget_removed_files(run, tmp_path):
    store = _store(tmp_path, [_message(1, "done", "1.eml"), _message(2, "queued", "2.eml")])
    writer = GroupCommitWriter(store.engine)
    try:
        async def forget() -> None:
            await writer.submit(queue_store.forget_spool(["1.eml", "2.eml"]))

        run(forget())
        # the queued message keeps its file; the done one no longer names one
        assert queue_store.spooled_names(store.engine) == {"2.eml"}
        assert queue_store.spool_done(store.engine) == ([], True)
    finally:
        writer.close()
        store.close()
