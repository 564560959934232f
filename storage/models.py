"""Tables of the core: inbox, outbox, pending choices and staff."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Index,
    Integer,
    String,
    Text,
    TextClause,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.types import UTCDateTime

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


def partial_index(name: str, *columns: Any, where: ColumnElement[bool] | TextClause) -> Index:
    """An index over only the rows for which ``where`` holds, as the migrations create it.

    The predicate is kept in ``info["where"]``, not as ``postgresql_where`` / ``sqlite_where``:
    SQLAlchemy checks dialect keywords by importing the dialect, so those loaded both dialects
    into every process (PostgreSQL's: 2.2 MB and ~55 ms of a SQLite start-up). The schema
    comes from the migrations alone; ``tests/storage/test_partial_indexes.py`` checks that
    they create each of these indexes with its predicate.
    """
    return Index(name, *columns, info={"where": where})


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class InboxEvent(Base):
    """An inbound platform event, stored before it is acknowledged."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("adapter", "event_id", name="uq_inbox_adapter_event"),
        # Only the rows still to do: a claim never walks past handled history (0008).
        partial_index("ix_inbox_live", "id", where=text("status = 'pending'")),
        Index("ix_inbox_serial", "serial_key", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    adapter: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(255))
    # Events with the same key (one user in one conversation) are handled in arrival order.
    serial_key: Mapped[str] = mapped_column(String(600))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime]
    handled_at: Mapped[datetime | None]


class OutboxMessage(Base):
    """A reply or notification waiting to be (or already) delivered."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        partial_index("ix_outbox_live", "id", where=text("status IN ('pending', 'sending')")),
        Index("ix_outbox_order", "conversation_key", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    adapter: Mapped[str] = mapped_column(String(32))
    # Messages with the same key are delivered in id order.
    conversation_key: Mapped[str] = mapped_column(String(600))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    platform_message_id: Mapped[str | None] = mapped_column(String(255))


class PendingChoices(Base):
    """The choices last offered in a conversation, so a typed "1" or label selects one."""

    __tablename__ = "pending_choices"
    __table_args__ = (UniqueConstraint("adapter", "conversation_id", name="uq_choices_conv"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    adapter: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[str] = mapped_column(String(300))
    choices: Mapped[dict[str, Any]]
    offered_at: Mapped[datetime]


class Staff(Base):
    """A person who has talked to the bot on one platform; the directory fills in the rest."""

    __tablename__ = "staff"
    __table_args__ = (UniqueConstraint("adapter", "external_id", name="uq_staff_platform_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    adapter: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(255))
    locale: Mapped[str | None] = mapped_column(String(8))
    role: Mapped[str] = mapped_column(String(16), default="staff")
    created_at: Mapped[datetime]
