"""The state store on a real SQLite file: migrations, versions, atomic and concurrent commits."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory

from engine.config.changes import SetHostname, SetTdc, replay
from engine.config.model import ConfigError
from engine.store.database import DATABASE_FILE, MIGRATIONS, Store


def test_new_store_is_at_the_newest_migration_with_factory_config(data_dir):
    store = Store.open(data_dir)
    heads = ScriptDirectory.from_config(_alembic()).get_heads()
    with sqlite3.connect(data_dir / DATABASE_FILE) as db:
        assert db.execute("select version_num from alembic_version").fetchall() == [(heads[0],)]
        assert db.execute("pragma journal_mode").fetchone() == ("wal",)
    latest = store.latest()
    assert (latest.id, latest.user, latest.comment) == (1, "system", "Factory defaults")
    assert store.setting("serial")
    store.close()


def _alembic() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def test_reopening_keeps_versions_and_serial(data_dir):
    store = Store.open(data_dir)
    serial = store.setting("serial")
    store.commit_config(lambda c: replay(c, [SetHostname("gw.example.com")]),
                        user="admin", comment="rename", rollback=True)
    store.close()
    store = Store.open(data_dir)
    assert store.setting("serial") == serial
    assert store.latest().config.hostname == "gw.example.com"
    assert [v.comment for v in store.versions()] == ["rename", "Factory defaults"]
    store.close()


def test_a_failing_commit_writes_nothing(data_dir):
    store = Store.open(data_dir)
    with pytest.raises(ConfigError):
        store.commit_config(lambda c: replay(c, [SetTdc(True)]), user="a", comment="", rollback=True)
    assert store.latest_version_id() == 1
    store.close()


def test_concurrent_commits_from_two_stores_all_land(data_dir):
    """Two store objects (as two processes would have) commit 20 changes each at once:
    every commit builds on the one before, so no change is lost."""
    Store.open(data_dir).close()
    stores = [Store.open(data_dir), Store.open(data_dir)]
    errors: list[BaseException] = []

    def worker(store: Store, tag: str) -> None:
        try:
            for n in range(20):
                store.commit_config(
                    lambda c, n=n: replay(c, [SetHostname(f"{tag}{n}.example.com")]),
                    user=tag, comment=f"{tag}{n}", rollback=False,
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s, t)) for s, t in zip(stores, "ab", strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert stores[0].latest_version_id() == 41
    comments = {v.comment for v in stores[0].versions(rollback_only=False, limit=100)}
    assert {f"a{n}" for n in range(20)} | {f"b{n}" for n in range(20)} <= comments
    for store in stores:
        store.close()


def test_models_and_migrations_agree(data_dir):
    """A model change without its migration would break old data directories: the schema
    the migrations build must be exactly the one the models describe."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from engine.store.models import Base

    store = Store.open(data_dir)
    with store.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    store.close()
    assert diff == []


@pytest.mark.parametrize("immediate", [True, False])
def test_a_writers_transaction_takes_the_write_lock_when_it_begins(data_dir, immediate):
    """``execution_options(immediate=True)`` (the group-commit writer) begins with ``BEGIN
    IMMEDIATE``: the write lock is its own before its first statement, so another writer
    is refused at once; a plain transaction begins deferred and takes no lock yet."""
    store = Store.open(data_dir)
    other = sqlite3.connect(data_dir / DATABASE_FILE, timeout=0, isolation_level=None)
    try:
        with store.engine.connect().execution_options(immediate=immediate) as connection, \
                connection.begin():
            if immediate:
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    other.execute("BEGIN IMMEDIATE")
            else:
                other.execute("BEGIN IMMEDIATE")
                other.execute("ROLLBACK")
    finally:
        other.close()
        store.close()
