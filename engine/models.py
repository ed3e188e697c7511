"""SQLAlchemy 2.0 models of the state store.  Schema changes go through Alembic
(``engine/migrations``), never through ``create_all``, so old data directories open."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


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
