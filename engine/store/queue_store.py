"""What the mail engine writes to and reads from the store, as group-commit jobs.

Each function returns a job for :class:`engine.store.group_commit.GroupCommitWriter`
(a callable taking a Connection), so the caller decides whether to wait for it to be
durable (accepting a message: yes, before ``250``) or not (a delivery's outcome:
at-least-once delivery tolerates replaying it after a crash).

Tests: tests/engine/store/test_queue_store.py.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Connection, Engine, Table, bindparam, func, select, update

from engine.store.group_commit import Job
from engine.store.models import DeliveryRow, MessageRow, TrackingEventRow
from engine.store.spool import SpoolMissing, spooled_body

MESSAGES = MessageRow.__table__
DELIVERIES = DeliveryRow.__table__
TRACKING = TrackingEventRow.__table__

ACTIVE = "active"
#: The states of a message still queued (MessageRow.state): every state but ``done``.
#: Queries name them, never ``state != 'done'``, which SQLite cannot answer from the index
#: and so reads the whole history (issue 14).
QUEUED_STATES = ("work", "queued")
#: The state of a delivery the next hop has taken (``250``).
DELIVERED = "delivered"


@dataclass(frozen=True)
class NewMessage:
    mid: int
    icid: int
    sender: str
    recipients: Sequence[str]
    body: bytes
    received_at: float
    message_id: str
    subject: str
    direction: str
    kind: str = "inbound"
    origin_mid: int | None = None
    policy: str | None = None
    state: str = "work"
    #: A big body's spool file (engine/store/spool.py), durable before this row is
    #: written: *body* is then what the row holds around the file's *spool_size* bytes,
    #: which go at *spool_at*.
    spool: str | None = None
    spool_at: int = 0
    spool_size: int = 0

    @property
    def size(self) -> int:
        """The whole body's size, spooled bytes included."""
        return len(self.body) + self.spool_size


@dataclass(frozen=True)
class NewDelivery:
    mid: int
    rid: int
    recipient: str
    destination: str
    next_attempt: float
    expires_at: float


#: The message columns, in the order of :func:`_message_row`.
_MESSAGE_COLUMNS = ("mid", "icid", "origin_mid", "kind", "state", "direction", "policy", "sender",
                    "envelope", "received_at", "size", "message_id", "subject", "spool", "spool_at",
                    "body")
_DELIVERY_COLUMNS = ("mid", "rid", "recipient", "destination", "state", "attempts", "next_attempt",
                     "expires_at", "last_error")


def _insert(table: Table, columns: Sequence[str]) -> str:
    return (f"INSERT INTO {table.name} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})")


_INSERT_MESSAGE = _insert(MESSAGES, _MESSAGE_COLUMNS)
#: The same with room for the body (``zeroblob``), written afterwards in pieces.
_INSERT_MESSAGE_ROOM = _INSERT_MESSAGE.removesuffix("?)") + "zeroblob(?))"
#: Bodies from this size on are written in pieces through SQLite's blob I/O: bound as a
#: parameter, SQLite would copy the whole body, then copy it again into the row it builds.
#: (The mail engine spools accepted bodies from 1 MB on to files of their own, so the
#: writer rarely meets one: engine/store/spool.py.)
BODY_IN_PIECES = 1024 * 1024
_PIECE = 256 * 1024
_INSERT_DELIVERY = _insert(DELIVERIES, _DELIVERY_COLUMNS)
_TRACKING_COLUMNS = ("mid", "at", "text")
_WORKED = f"UPDATE {MESSAGES.name} SET state = ?, policy = ? WHERE mid = ?"
_FINISH = f"UPDATE {DELIVERIES.name} SET state = ?, last_error = ? WHERE id = ?"
_FINISH_ALL = f"UPDATE {DELIVERIES.name} SET state = ?, last_error = ? WHERE id IN ({{ids}})"
#: Messages of the given deliveries with no active delivery left are done; their body goes.
_DONE = (f"UPDATE {MESSAGES.name} SET state = 'done', body = ? WHERE mid IN "
         f"(SELECT mid FROM {DELIVERIES.name} WHERE id IN ({{ids}})) AND NOT EXISTS "
         f"(SELECT 1 FROM {DELIVERIES.name} AS left_over WHERE left_over.mid = {MESSAGES.name}.mid "
         f"AND left_over.state = ?)")
_IDS_PER_STATEMENT = 500  # well under SQLite's limit of bound parameters
#: Rows of one multi-row INSERT at most (768 parameters for the tracking events).
_ROWS_PER_INSERT = 256


# Few statements, many rows.  Each statement the writer runs lets go of the interpreter
# lock while SQLite works and must take it back from the event loop afterwards -- once per
# row of an ``executemany`` too.  Tracking events and finished deliveries were 7 of the
# 12.5 statements a journaled message cost; as multi-row INSERTs and one UPDATE per
# outcome, the writer's commits wait less for the lock, and the accepts waiting on them
# less (benchmarks/README.md, "Issue 14, sixth round").


def _insert_many(db: sqlite3.Connection, table: Table, columns: tuple[str, ...],
                 rows: Sequence[Sequence[object]]) -> None:
    """Insert *rows*, in order, with one statement per power of two in their count (13
    rows: 8, 4 and 1), each of at most ``_ROWS_PER_INSERT`` rows: few statements, and
    few texts for the statement cache."""
    at = 0
    while at < len(rows):
        count = min(_ROWS_PER_INSERT, 1 << ((len(rows) - at).bit_length() - 1))
        db.execute(_insert_rows(table.name, columns, count),
                   [value for row in rows[at: at + count] for value in row])
        at += count


@functools.cache
def _insert_rows(table: str, columns: tuple[str, ...], count: int) -> str:
    row = f"({', '.join('?' for _ in columns)})"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([row] * count)}"


def _id_chunks(ids: Sequence[int]) -> Iterator[tuple[Sequence[int], str]]:
    """*ids* in chunks of at most ``_IDS_PER_STATEMENT``, each with its ``?, ?, ...``."""
    for at in range(0, len(ids), _IDS_PER_STATEMENT):
        chunk = ids[at: at + _IDS_PER_STATEMENT]
        yield chunk, ", ".join("?" for _ in chunk)


def _dbapi(connection: Connection) -> sqlite3.Connection:
    """The SQLite connection under *connection*, inside the same transaction.

    The hot jobs below (a few per message) run their fixed statements on it directly:
    building and compiling SQLAlchemy statements cost more than SQLite running them.
    """
    # Typed ``Any | None`` for any driver (None once the connection is invalidated); this
    # store's engine is always pysqlite, and a job runs on a live connection.
    return cast(sqlite3.Connection, connection.connection.driver_connection)


def _row_id(cursor: sqlite3.Cursor) -> int:
    """The id of the row an INSERT just added (``lastrowid`` is None before any INSERT)."""
    row_id = cursor.lastrowid
    assert row_id is not None
    return row_id


def _message_row(message: NewMessage) -> tuple[object, ...]:
    return (message.mid, message.icid, message.origin_mid, message.kind, message.state,
            message.direction, message.policy, message.sender,
            json.dumps(list(message.recipients)), message.received_at, message.size,
            message.message_id, message.subject, message.spool,
            None if message.spool is None else message.spool_at, message.body)


def _insert_messages(db: sqlite3.Connection, messages: Sequence[NewMessage]) -> None:
    """Insert *messages*: small ones in one statement, big ones with their body written in
    pieces into the row (in the same transaction: durable at the same commit)."""
    small = [m for m in messages if len(m.body) < BODY_IN_PIECES]
    if small:
        db.executemany(_INSERT_MESSAGE, [_message_row(m) for m in small])
    for message in messages:
        if len(message.body) >= BODY_IN_PIECES:
            _insert_big(db, message)


def _insert_big(db: sqlite3.Connection, message: NewMessage) -> None:
    row = _message_row(message)
    db.execute(_INSERT_MESSAGE_ROOM, (*row[:-1], len(message.body)))
    with db.blobopen(MESSAGES.name, "body", message.mid) as blob, \
            memoryview(message.body) as body:  # mid is the rowid (INTEGER PRIMARY KEY)
        for at in range(0, len(body), _PIECE):
            blob.write(body[at: at + _PIECE])


def insert_message(message: NewMessage) -> Job[int]:
    """The accept transaction: the message and its envelope, in state ``work``."""
    def job(connection: Connection) -> int:
        _insert_messages(_dbapi(connection), [message])
        return message.mid
    return job


def record_work(mid: int, policy: str | None, state: str, new_messages: Sequence[NewMessage],
                deliveries: Sequence[NewDelivery]) -> Job[list[int]]:
    """The work queue's outcome in one transaction: the message leaves ``work``, split parts
    and journal copies are stored, and their deliveries are queued.  Returns the row id
    of each delivery, in order."""
    def job(connection: Connection) -> list[int]:
        db = _dbapi(connection)
        db.execute(_WORKED, (state, policy, mid))
        _insert_messages(db, new_messages)
        return [_row_id(db.execute(_INSERT_DELIVERY, (d.mid, d.rid, d.recipient, d.destination,
                                                      ACTIVE, 0, d.next_attempt, d.expires_at, "")))
                for d in deliveries]
    return job


def insert_queued(message: NewMessage, deliveries: Sequence[NewDelivery]) -> Job[list[int]]:
    """A message the gateway made itself (a bounce) straight onto the delivery queues:
    the message and its deliveries in one transaction; returns the deliveries' row ids."""
    def job(connection: Connection) -> list[int]:
        db = _dbapi(connection)
        _insert_messages(db, [message])
        return [_row_id(db.execute(_INSERT_DELIVERY, (d.mid, d.rid, d.recipient, d.destination,
                                                      ACTIVE, 0, d.next_attempt, d.expires_at, "")))
                for d in deliveries]
    return job


def finish_deliveries(row_ids: Iterable[int], state: str, error: str = "") -> Job[None]:
    """Deliveries done (``delivered``, ``bounced``, ``expired``, ``deleted``); a message
    whose deliveries are all done is ``done`` too (its body can go)."""
    return finish_many([(row_ids, state, error)])


def finish_many(finished: Sequence[tuple[Iterable[int], str, str]]) -> Job[None]:
    """Several :func:`finish_deliveries` in one job: ``(row_ids, state, error)`` each."""
    rows = [(state, error, row_id) for row_ids, state, error in finished for row_id in row_ids]

    def job(connection: Connection) -> None:
        db = _dbapi(connection)
        ids = [row_id for _, _, row_id in rows]
        if len(set(ids)) < len(ids):  # a delivery finished twice: in order, the last wins
            db.executemany(_FINISH, rows)
        else:  # one statement per outcome
            outcomes: dict[tuple[str, str], list[int]] = {}
            for state, error, row_id in rows:
                outcomes.setdefault((state, error), []).append(row_id)
            for (state, error), row_ids in outcomes.items():
                for chunk, marks in _id_chunks(row_ids):
                    db.execute(_FINISH_ALL.format(ids=marks), (state, error, *chunk))
        for chunk, marks in _id_chunks(ids):
            db.execute(_DONE.format(ids=marks), (b"", *chunk, ACTIVE))
    return job


_REDIRECT = f"UPDATE {DELIVERIES.name} SET destination = ? WHERE id = ?"


def redirect_deliveries(row_ids: Iterable[int], host: str) -> Job[None]:
    """Deliveries go to *host* from now on (``redirectrecipients``): what a restart resumes."""
    rows = [(host, row_id) for row_id in row_ids]

    def job(connection: Connection) -> None:
        _dbapi(connection).executemany(_REDIRECT, rows)
    return job


class OpenFinishes:
    """Finished deliveries as one job that stays open until the writer runs it.

    The mail engine submits it with the first finish and adds the ones that follow to it,
    so each outcome reaches the writer at once (a delivered one that is not durable is
    delivered again after a crash) while a busy loop still writes many outcomes with one
    statement.  The writer's first run of the job closes it: :meth:`add` then answers False
    and the caller starts a new one.  Another run of the same job (the writer's savepoint
    path) writes the same rows.  :meth:`add` runs on the event loop, the job on the
    writer's thread: the lock keeps a finish from landing between the two.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._finished: list[tuple[Iterable[int], str, str]] = []
        self._job: Job[None] | None = None

    def add(self, row_ids: Iterable[int], state: str, error: str = "") -> bool:
        """Add a finish; False when the writer has taken the job already (too late)."""
        with self._lock:
            if self._job is not None:
                return False
            self._finished.append((row_ids, state, error))
            return True

    def __call__(self, connection: Connection) -> None:
        with self._lock:
            if self._job is None:
                self._job = finish_many(self._finished)
        self._job(connection)


def reschedule(row_ids: Iterable[int], attempts: int, next_attempt: float, error: str) -> Job[None]:
    ids = list(row_ids)

    def job(connection: Connection) -> None:
        connection.execute(
            update(DELIVERIES).where(DELIVERIES.c.id == bindparam("row_id"))
            .values(attempts=attempts, next_attempt=next_attempt, last_error=error),
            [{"row_id": i} for i in ids])
    return job


def add_tracking(events: Sequence[tuple[int, float, str]]) -> Job[None]:
    def job(connection: Connection) -> None:
        _insert_many(_dbapi(connection), TRACKING, _TRACKING_COLUMNS, events)
    return job


# -- reads (recovery after a restart; message tracking) -----------------------------------
def unprocessed_messages(engine: Engine) -> list[dict]:
    """Messages accepted but not through the work queue (a crash came in between)."""
    with engine.connect() as connection:
        rows = connection.execute(select(MESSAGES).where(MESSAGES.c.state == "work")
                                  .order_by(MESSAGES.c.mid))
        return [dict(row._mapping) for row in rows]


def active_deliveries(engine: Engine) -> list[dict]:
    """Every queued delivery with its message's envelope and body, oldest first."""
    query = (
        select(DELIVERIES, MESSAGES.c.sender, MESSAGES.c.body, MESSAGES.c.message_id,
               MESSAGES.c.origin_mid, MESSAGES.c.received_at, MESSAGES.c.kind,
               MESSAGES.c.spool, MESSAGES.c.spool_at)
        .join(MESSAGES, MESSAGES.c.mid == DELIVERIES.c.mid)
        .where(DELIVERIES.c.state == ACTIVE)
        .order_by(DELIVERIES.c.mid, DELIVERIES.c.rid)
    )
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def recovery_start(engine: Engine) -> tuple[list[dict], int]:
    """What a restart reads before it listens, in one read transaction: the messages not
    through the work queue (:func:`unprocessed_messages`) and the last delivery row id.
    The stored deliveries up to that id are then read in pages in the background
    (:func:`active_deliveries_page`); rows added later (new mail, the unprocessed
    messages' work) are queued by whoever adds them, never twice."""
    with engine.connect() as connection:
        rows = connection.execute(select(MESSAGES).where(MESSAGES.c.state == "work")
                                  .order_by(MESSAGES.c.mid))
        unprocessed = [dict(row._mapping) for row in rows]
        last = connection.execute(select(func.max(DELIVERIES.c.id))).scalar()
    return unprocessed, last or 0


#: By primary key: ``+state`` keeps SQLite off the (state, destination) index, which it
#: would otherwise pick, reading every active row and sorting them for each page (recovery
#: grew with the square of the queue: 5 s at 110,000 rows, 50 s at 330,000).
_PAGE_ROWS = (f"SELECT id, mid, rid, recipient, destination, attempts, expires_at "
              f"FROM {DELIVERIES.name} WHERE id > ? AND id <= ? AND +state = ? "
              f"ORDER BY id LIMIT ?")
#: A journal copy's body is not read (None): the TDC queue reads it when it sends the copy
#: (:func:`message_body`); one whose original is spooled has its pieces read, to be put
#: around the spool file's bytes (:func:`with_bodies`).
_PAGE_MESSAGES = (f"SELECT mid, sender, CASE WHEN kind = 'journal' AND spool IS NULL THEN NULL "
                  f"ELSE body END, message_id, origin_mid, received_at, kind, spool, spool_at "
                  f"FROM {MESSAGES.name} WHERE mid IN ({{mids}})")
_PAGE_COLUMNS = ("id", "mid", "rid", "recipient", "destination", "attempts", "expires_at")
_MESSAGE_PAGE_COLUMNS = ("sender", "body", "message_id", "origin_mid", "received_at", "kind",
                         "spool", "spool_at")


def active_deliveries_page(engine: Engine, after_id: int, last_id: int,
                           limit: int = 5000) -> list[dict]:
    """Up to *limit* queued deliveries with row ids in (*after_id*, *last_id*], by id, each
    with its message's envelope and body (like :func:`active_deliveries`).

    Walks the primary key, so each page costs its own size, not the queue's.  A message's
    body is read once per page and shared by its rows: a million queued recipients of
    100,000 messages hold 100,000 bodies, not a million copies.  A journal copy's body is
    None: it is read when the copy is sent (:func:`message_body`)."""
    with engine.connect() as connection:
        db = _dbapi(connection)
        rows = [dict(zip(_PAGE_COLUMNS, row, strict=True))
                for row in db.execute(_PAGE_ROWS, (after_id, last_id, ACTIVE, limit))]
        mids = sorted({row["mid"] for row in rows})
        messages: dict[int, tuple] = {}
        for chunk, marks in _id_chunks(mids):
            for mid, *rest in db.execute(_PAGE_MESSAGES.format(mids=marks), chunk):
                messages[mid] = tuple(rest)
    rows = [row for row in rows if row["mid"] in messages]  # as the join of active_deliveries
    for row in rows:
        row.update(zip(_MESSAGE_PAGE_COLUMNS, messages[row["mid"]], strict=True))
    return rows


def oldest_active_received(engine: Engine, destination: str, last_id: int) -> float | None:
    """When the oldest message with an active delivery to *destination* and a row id up
    to *last_id* was received (None: there is none).  Recovery reads the mail log back to
    then, once, for the journal copies it recovers."""
    query = (select(func.min(MESSAGES.c.received_at))
             .select_from(DELIVERIES.join(MESSAGES, MESSAGES.c.mid == DELIVERIES.c.mid))
             .where(DELIVERIES.c.state == ACTIVE, DELIVERIES.c.destination == destination,
                    DELIVERIES.c.id <= last_id))
    with engine.connect() as connection:
        return connection.execute(query).scalar()


def message_body(engine: Engine, mid: int) -> bytes:
    """The stored body of message *mid* (b"" when there is no such message)."""
    with engine.connect() as connection:
        body = connection.execute(select(MESSAGES.c.body).where(MESSAGES.c.mid == mid)).scalar()
    return body or b""


def with_bodies(rows: list[dict], read: Callable[[str], bytes]) -> list[tuple[dict, SpoolMissing]]:
    """Put each spooled row's whole body in its ``body``: the bytes of its file, read by
    *read*, or a journal copy's pieces around them (:func:`engine.store.spool.spooled_body`);
    each file is read once, however many rows name it (a message, its split parts and
    journal copies).  Returns the rows whose file
    is missing, with the error, their ``body`` left as it was."""
    files: dict[str, bytes | SpoolMissing] = {}
    missing = []
    for row in rows:
        name = row.get("spool")
        if name is None:
            continue
        if name not in files:
            try:
                files[name] = read(name)
            except SpoolMissing as error:
                files[name] = error
        spooled = files[name]
        if isinstance(spooled, SpoolMissing):
            missing.append((row, spooled))
        else:
            row["body"] = spooled_body(row["body"], row["spool_at"] or 0, spooled)
    return missing


def spooled_names(engine: Engine) -> set[str]:
    """Every spool file a stored message names (done ones too, until :func:`forget_spool`)."""
    with engine.connect() as connection:
        return set(connection.execute(
            select(MESSAGES.c.spool).where(MESSAGES.c.spool.is_not(None)).distinct()).scalars())


def spool_done(engine: Engine) -> tuple[list[str], bool]:
    """The spool files whose every message is done (they can go), and whether any message
    still queued names a file.  Reads only the rows that name a file (a partial index):
    rows forget their file once it is removed (:func:`forget_spool`)."""
    queued = func.sum(MESSAGES.c.state.in_(QUEUED_STATES))
    query = (select(MESSAGES.c.spool, queued).where(MESSAGES.c.spool.is_not(None))
             .group_by(MESSAGES.c.spool))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return [name for name, count in rows if not count], any(count for _, count in rows)


def forget_spool(names: Sequence[str]) -> Job[None]:
    """Done messages stop naming spool files that were removed (their body went with
    ``done`` already): the rows that name a file stay few however long the history."""
    def job(connection: Connection) -> None:
        connection.execute(update(MESSAGES).where(MESSAGES.c.spool.in_(names),
                                                  MESSAGES.c.state == "done")
                           .values(spool=None, spool_at=None))
    return job


def abandon(mids: Sequence[int], row_ids: Sequence[int], error: str) -> Job[None]:
    """Queued messages that cannot be sent (their spool file is missing): their deliveries
    end ``deleted`` with *error*, and the messages are done."""
    def job(connection: Connection) -> None:
        if row_ids:
            connection.execute(update(DELIVERIES).where(DELIVERIES.c.id.in_(row_ids))
                               .values(state="deleted", last_error=error))
        if mids:
            connection.execute(update(MESSAGES).where(MESSAGES.c.mid.in_(mids))
                               .values(state="done", body=b""))
    return job


def tracking_events(engine: Engine, mid: int) -> list[tuple[float, str]]:
    with engine.connect() as connection:
        rows = connection.execute(select(TRACKING.c.at, TRACKING.c.text)
                                  .where(TRACKING.c.mid == mid).order_by(TRACKING.c.id))
        return [(row.at, row.text) for row in rows]


def oldest_active(engine: Engine, destination: str) -> float | None:
    """When the oldest message still queued for *destination* was received (``hoststatus``)."""
    query = (select(func.min(MESSAGES.c.received_at))
             .join(DELIVERIES, DELIVERIES.c.mid == MESSAGES.c.mid)
             .where(DELIVERIES.c.destination == destination, DELIVERIES.c.state == ACTIVE))
    with engine.connect() as connection:
        return connection.execute(query).scalar()
