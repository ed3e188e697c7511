"""The state store: SQLAlchemy over SQLite (WAL) in the data directory.

Every method here is synchronous and short; the appliance calls them from a
worker thread (see :class:`engine.appliance.Appliance`) so the event loop never
waits on the disk.  Several processes may open the same store: writes that read
then write (a config commit) take SQLite's write lock up front (``BEGIN
IMMEDIATE``), so two commits never interleave.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from alembic import command as alembic_command
from alembic.config import Config as AlembicConfig
from alembic.util import CommandError as AlembicCommandError
from sqlalchemy import Connection, Engine, create_engine, event, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from engine.config.model import Config
from engine.config.xml_document import from_xml, to_xml
from engine.store.data_dir import DataDirError, database_problem, prepare
from engine.store.models import ApplianceSetting, ConfigVersionRow

MIGRATIONS = Path(__file__).parent / "migrations"
DATABASE_FILE = "segcli.db"


@dataclass(frozen=True)
class ConfigVersion:
    """A committed configuration, detached from any database session."""

    id: int
    committed_at: datetime
    user: str
    comment: str
    rollback: bool
    config: Config


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, data_dir: Path) -> Store:
        """Open (creating and migrating as needed) the store of a data directory.

        DataDirError, with the reason in one line, when the directory or its database
        cannot be used (engine/store/data_dir.py)."""
        database = data_dir / DATABASE_FILE
        prepare(data_dir, database)
        store = cls(_sqlite_engine(database))
        try:
            store.migrate()
            store._seed()
        except (DBAPIError, AlembicCommandError) as exc:
            store.close()
            raise DataDirError(data_dir, database_problem(database, exc)) from None
        return store

    def close(self) -> None:
        self.engine.dispose()

    def migrate(self) -> None:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.connect().execution_options(immediate=True) as connection:
            cfg.attributes["connection"] = connection
            alembic_command.upgrade(cfg, "head")
            connection.commit()

    def _seed(self) -> None:
        """A new appliance gets its serial number and the factory configuration."""
        with self._write() as session:
            if session.get(ApplianceSetting, "serial") is None:
                now = _utcnow()
                session.add(ApplianceSetting(key="serial", value=_new_serial()))
                session.add(ApplianceSetting(key="installed_at", value=now.isoformat()))
            if session.scalar(select(func.count(ConfigVersionRow.id))) == 0:
                session.add(ConfigVersionRow(
                    committed_at=_utcnow(), user="system", comment="Factory defaults",
                    rollback=True, body=to_xml(Config()),
                ))

    def _write(self) -> _WriteSession:
        """A session whose transaction holds the write lock from its first statement."""
        return _WriteSession(self.engine)

    # -- settings ----------------------------------------------------------------
    def setting(self, key: str) -> str | None:
        with Session(self.engine) as session:
            row = session.get(ApplianceSetting, key)
            return None if row is None else row.value

    # -- configuration versions ----------------------------------------------------
    def latest_version_id(self) -> int:
        with Session(self.engine) as session:
            return session.scalar(select(func.max(ConfigVersionRow.id))) or 0

    def latest(self) -> ConfigVersion:
        with Session(self.engine) as session:
            row = session.scalars(
                select(ConfigVersionRow).order_by(ConfigVersionRow.id.desc()).limit(1)
            ).one()
            return _version(row)

    def version(self, version_id: int) -> ConfigVersion | None:
        with Session(self.engine) as session:
            row = session.get(ConfigVersionRow, version_id)
            return None if row is None else _version(row)

    def versions(self, *, rollback_only: bool = True, limit: int = 10) -> list[ConfigVersion]:
        """Newest first: the commits ``rollbackconfig`` offers."""
        query = select(ConfigVersionRow).order_by(ConfigVersionRow.id.desc()).limit(limit)
        if rollback_only:
            query = query.where(ConfigVersionRow.rollback.is_(True))
        with Session(self.engine) as session:
            return [_version(row) for row in session.scalars(query)]

    def commit_config(
        self,
        build: Callable[[Config], Config],
        *,
        user: str,
        comment: str,
        rollback: bool,
        also: Callable[[Session], None] | None = None,
    ) -> ConfigVersion:
        """Make a new version from the latest one, atomically.

        *build* receives the latest committed configuration and returns the new one
        (or raises, and nothing is written).  The write lock is held throughout, so a
        commit from another session or process cannot slip in between.  *also* writes
        what else the commit carries (account changes) in the same transaction.
        """
        with self._write() as session:
            if also is not None:
                also(session)
            latest = session.scalars(
                select(ConfigVersionRow).order_by(ConfigVersionRow.id.desc()).limit(1)
            ).one()
            new_config = build(from_xml(latest.body))
            row = ConfigVersionRow(
                committed_at=_utcnow(), user=user, comment=comment, rollback=rollback,
                body=to_xml(new_config),
            )
            session.add(row)
            session.flush()
            return _version(row, new_config)


class _WriteSession:
    """``with _WriteSession(engine) as session``: BEGIN IMMEDIATE ... COMMIT (or ROLLBACK)."""

    def __init__(self, engine: Engine) -> None:
        self._connection = engine.connect().execution_options(immediate=True)
        self._session = Session(self._connection, expire_on_commit=False)

    def __enter__(self) -> Session:
        return self._session

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc_type is None:
                self._session.commit()
                self._connection.commit()
            else:
                self._session.rollback()
                self._connection.rollback()
        finally:
            self._session.close()
            self._connection.close()


def _sqlite_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself, so that writers
        # can ask for BEGIN IMMEDIATE (pysqlite would otherwise begin lazily).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get("immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _version(row: ConfigVersionRow, config: Config | None = None) -> ConfigVersion:
    committed_at = row.committed_at
    if committed_at.tzinfo is None:
        committed_at = committed_at.replace(tzinfo=UTC)
    return ConfigVersion(
        id=row.id, committed_at=committed_at, user=row.user, comment=row.comment,
        rollback=row.rollback, config=config if config is not None else from_xml(row.body),
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _new_serial() -> str:
    """A serial number in the appliance's shape: 42 hex digits in two groups."""
    return f"{secrets.token_hex(6).upper()}-{secrets.token_hex(5).upper()}"
