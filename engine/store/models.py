"""SQLAlchemy 2.0 models of the state store.  Schema changes go through Alembic
(``engine/store/migrations``), never through ``create_all``, so old data directories open.

Tests: tests/engine/store/test_database.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    # Every model here is mapped to a Table; DeclarativeBase types ``__table__`` as any
    # FromClause, which has no ``name``, and insert()/update() do not take that.
    __table__: ClassVar[Table]


class ConfigVersionRow(Base):
    """One committed configuration: who committed it, when, why, and the whole document."""

    __tablename__ = "config_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    committed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    user: Mapped[str] = mapped_column(String(64))
    comment: Mapped[str] = mapped_column(Text, default="")
    #: "Do you want to save the current configuration for rollback?"
    rollback: Mapped[bool] = mapped_column(Boolean, default=True)
    body: Mapped[str] = mapped_column(Text)


class ApplianceSetting(Base):
    """Facts about this appliance that are not configuration (serial number, install date)."""

    __tablename__ = "appliance_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class MessageRow(Base):
    """An accepted message (or a split part, or a TDC journal copy), body included.

    ``state`` is ``work`` until the work queue has processed it (so a crash before
    that re-runs the work queue), then ``queued`` while deliveries remain, then ``done``.
    """

    __tablename__ = "messages"
    #: The queued messages' size and the oldest of them, read from this index alone
    #: (engine/observe/stats.py), however much history the table holds.
    __table_args__ = (Index("ix_messages_state_received", "state", "received_at", "size"),
                      Index("ix_messages_spool", "spool", sqlite_where=text("spool IS NOT NULL")))

    mid: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    icid: Mapped[int] = mapped_column(Integer)
    origin_mid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(16))
    policy: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sender: Mapped[str] = mapped_column(Text)
    #: The envelope recipients as JSON, for the work queue (deliveries are rows below).
    envelope: Mapped[str] = mapped_column(Text)
    received_at: Mapped[float] = mapped_column(Float)
    size: Mapped[int] = mapped_column(Integer)
    message_id: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[bytes] = mapped_column(LargeBinary)
    #: The spool file holding the body, or the part of it not in ``body`` (a big body:
    #: engine/store/spool.py); NULL when ``body`` is the whole of it.
    spool: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Where the spool file's bytes go in ``body`` (0: first; a journal copy: after its head).
    spool_at: Mapped[int | None] = mapped_column(Integer, nullable=True)


class DeliveryRow(Base):
    """One recipient of one message on its way to one destination (a domain, or
    ``the.tdc.queue`` for a journal copy, whose recipient is the intake address)."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_state_destination", "state", "destination"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mid: Mapped[int] = mapped_column(Integer, index=True)
    rid: Mapped[int] = mapped_column(Integer)
    recipient: Mapped[str] = mapped_column(Text)
    destination: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    last_error: Mapped[str] = mapped_column(Text, default="")


class TrackingEventRow(Base):
    """A message tracking event (``findevent`` and the GUI's Message Tracking)."""

    __tablename__ = "tracking_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mid: Mapped[int] = mapped_column(Integer, index=True)
    at: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)


class LifetimeCounterRow(Base):
    """One counter of one scope (``""`` for the system, else a destination host) as earlier
    processes left it: its lifetime value and its value since the last ``resetcounters``,
    so ``status`` keeps both across restarts (engine/observe/counter_store.py)."""

    __tablename__ = "lifetime_counters"

    scope: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    lifetime: Mapped[int] = mapped_column(BigInteger)
    since_reset: Mapped[int] = mapped_column(BigInteger)


class UserRow(Base):
    """An account: who may log in (console, SSH) and with which role (engine/store/users.py).

    Not part of the XML configuration, so saved configuration files never carry
    password hashes; ``userconfig`` changes are still written at ``commit``."""

    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    full_name: Mapped[str] = mapped_column(String(128))
    #: admin, operator or readonly (engine.store.users.Role).
    role: Mapped[str] = mapped_column(String(16))
    #: A bcrypt hash ("$2b$12$..."); room for a longer KDF string later.
    password_hash: Mapped[str] = mapped_column(String(255))
    #: OpenSSH ``authorized_keys`` lines, one per line, in the order they were added.
    authorized_keys: Mapped[str] = mapped_column(Text, default="")
