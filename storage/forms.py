"""A conversational form in progress (or finished): one row per person per form run."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigIntPK


class FormSession(Base):
    """Every answer so far, where the person is, and what the bot is waiting for.

    Saved on every step in the same transaction as the bot's reply, so a restart resumes
    exactly here. ``version`` guards against two messages applied to the same step.
    """

    __tablename__ = "form_sessions"
    __table_args__ = (
        Index("ix_form_sessions_owner", "adapter", "user_id", "status"),
        Index("ix_form_sessions_idle", "status", "updated_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    adapter: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(255))
    conversation_id: Mapped[str] = mapped_column(String(255))
    form: Mapped[str] = mapped_column(String(64))
    # active → submitted | cancelled | expired (an expired draft can be resumed)
    status: Mapped[str] = mapped_column(String(16), default="active")
    step: Mapped[str] = mapped_column(String(64))
    answers: Mapped[dict[str, Any]]
    # {"trail": [step ids answered, in order], "pending": {...} | None, "editing": bool}
    progress: Mapped[dict[str, Any]]
    locale: Mapped[str] = mapped_column(String(8))
    version: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    nudged_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's own idiom
