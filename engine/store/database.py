"""The state store: SQLAlchemy over SQLite (WAL) in the data directory.

Every method here is synchronous and short; the appliance calls them from a
worker thread (see :class:`engine.appliance.Appliance`) so the event loop never
waits on the disk.  Several processes may open the same store: writes that read
then write (a config commit) take SQLite's write lock up front (``BEGIN
IMMEDIATE``), so two commits never interleave.

A committed version whose document does not load (an older segcli once committed a
control character XML cannot hold) must not stop the appliance: reading skips it to
the newest version that loads, a new commit builds on that one, and listings show it
as an :class:`UnreadableVersion` with the reason.

Tests: tests/engine/store/test_database.py.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable, Iterator
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
from engine.config.xml_document import ConfigXmlError, from_xml, to_xml
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


@dataclass(frozen=True)
class UnreadableVersion:
    """A committed version whose document does not load: *problem* says why."""

    id: int
    committed_at: datetime
    user: str
    comment: str
    rollback: bool
    problem: str


#: What the store's listings hold: versions that load, and those that do not.
AnyVersion = ConfigVersion | UnreadableVersion

#: The version a store whose every version is unreadable runs (id 0: any commit is newer).
FACTORY_ID = 0


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
        """The newest version that loads (see :meth:`latest_readable`)."""
        return self.latest_readable()[0]

    def latest_readable(self) -> tuple[ConfigVersion, list[UnreadableVersion]]:
        """The newest version that loads, and the newer ones that do not (newest first).

        With no version that loads at all, the factory configuration (id 0)."""
        with Session(self.engine) as session:
            return _newest_readable(session)

    def version(self, version_id: int) -> AnyVersion | None:
        with Session(self.engine) as session:
            row = session.get(ConfigVersionRow, version_id)
            return None if row is None else _read(row)

    def versions(self, *, rollback_only: bool = True, limit: int = 10) -> list[AnyVersion]:
        """Newest first: the commits ``rollbackconfig`` offers, unreadable ones included
        (so the list says what became of them)."""
        query = select(ConfigVersionRow).order_by(ConfigVersionRow.id.desc()).limit(limit)
        if rollback_only:
            query = query.where(ConfigVersionRow.rollback.is_(True))
        with Session(self.engine) as session:
            return [_read(row) for row in session.scalars(query)]

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

        *build* receives the latest committed configuration that loads (newer versions
        that do not are passed over: this commit supersedes them) and returns the new
        one (or raises, and nothing is written).  The write lock is held throughout, so
        a commit from another session or process cannot slip in between.  *also* writes
        what else the commit carries (account changes) in the same transaction.
        """
        with self._write() as session:
            if also is not None:
                also(session)
            new_config = build(_newest_readable(session)[0].config)
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
        # Straight to the driver: a transaction's BEGIN needs none of SQLAlchemy's execution
        # machinery, which took half of an empty transaction's time (28 against 15 us),
        # paid on each of the writer's commits (issue 14).
        driver = connection.connection.driver_connection
        assert driver is not None  # a live connection: SQLAlchemy is beginning on it
        driver.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _newest_readable(session: Session) -> tuple[ConfigVersion, list[UnreadableVersion]]:
    """Walk the versions newest first to the first that loads; the factory configuration
    (id 0) when none does."""
    skipped: list[UnreadableVersion] = []
    for row in _newest_first(session):
        version = _read(row)
        if isinstance(version, ConfigVersion):
            return version, skipped
        skipped.append(version)
    factory = ConfigVersion(id=FACTORY_ID, committed_at=_utcnow(), user="system",
                            comment="Factory defaults", rollback=False, config=Config())
    return factory, skipped


def _newest_first(session: Session, page: int = 8) -> Iterator[ConfigVersionRow]:
    """Every version, newest first, a few rows at a time: the first one nearly always
    loads, and a long history should not be read whole to find that out."""
    query = select(ConfigVersionRow).order_by(ConfigVersionRow.id.desc()).limit(page)
    rows = session.scalars(query).all()
    while rows:
        yield from rows
        rows = session.scalars(query.where(ConfigVersionRow.id < rows[-1].id)).all()


def _read(row: ConfigVersionRow) -> AnyVersion:
    """The version a row holds, or what is wrong with its document."""
    try:
        config = from_xml(row.body)
    except ConfigXmlError as exc:
        return UnreadableVersion(id=row.id, committed_at=_aware(row.committed_at), user=row.user,
                                 comment=row.comment, rollback=row.rollback, problem=str(exc))
    return _version(row, config)


def _version(row: ConfigVersionRow, config: Config) -> ConfigVersion:
    return ConfigVersion(
        id=row.id, committed_at=_aware(row.committed_at), user=row.user, comment=row.comment,
        rollback=row.rollback, config=config,
    )


def _aware(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes; they were written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _new_serial() -> str:
    """A serial number in the appliance's shape: 42 hex digits in two groups."""
    return f"{secrets.token_hex(6).upper()}-{secrets.token_hex(5).upper()}"
