"""Issues (課題) reported by staff, their numbering, support, search grams and audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigIntPK

# The municipal method's stages, in order; 保留 (on_hold) and 見送り (declined) from any open one.
STATUSES = (
    "received",  # 受付
    "triage",  # 課題整理
    "solution",  # 解決策検討
    "pilot",  # 試験導入
    "implemented",  # 本格導入
    "closed",  # 完了
    "on_hold",  # 保留
    "declined",  # 見送り
)
OPEN_STATUSES = ("received", "triage", "solution", "pilot", "implemented", "on_hold")


class Section(Base):
    """An administrative section (課); seeded from config, later from the directory import."""

    __tablename__ = "sections"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    active: Mapped[bool] = mapped_column(default=True)


class IssueCounter(Base):
    """The last issue number handed out in each fiscal year (年度)."""

    __tablename__ = "issue_counters"

    fiscal_year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Issue(Base):
    """A business problem reported by a staff member (課題), numbered like ``R8-0042``."""

    __tablename__ = "issues"
    __table_args__ = (
        UniqueConstraint("fiscal_year", "seq", name="uq_issue_number"),
        Index("ix_issues_status", "status"),
        Index("ix_issues_reporter", "reporter_adapter", "reporter_id"),
        Index("ix_issues_group", "working_group", "status"),
        Index("ix_issues_section", "section"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)
    fiscal_year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))  # 業務名
    section: Mapped[str] = mapped_column(String(100))  # 所属課 as reported
    section_known: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(String(16), default="received")
    working_group: Mapped[str | None] = mapped_column(String(100))  # None: policy staff queue
    assignee: Mapped[str | None] = mapped_column(String(255))  # a leader's user id
    reporter_adapter: Mapped[str] = mapped_column(String(32))
    reporter_id: Mapped[str] = mapped_column(String(255))
    reporter_name: Mapped[str] = mapped_column(String(255))
    answers: Mapped[dict[str, Any]]
    annual_hours: Mapped[float] = mapped_column(Float)
    contact_ok: Mapped[bool] = mapped_column(default=True)
    support_count: Mapped[int] = mapped_column(Integer, default=0)
    form_session_id: Mapped[int | None] = mapped_column(BigIntPK, unique=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class IssueSupport(Base):
    """A staff member saying 「同じ課題です」 about an existing issue (賛同), once each."""

    __tablename__ = "issue_supports"
    __table_args__ = (UniqueConstraint("issue_id", "adapter", "user_id", name="uq_issue_support"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    adapter: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]


class IssueGram(Base):
    """Character bigrams of an issue's text: portable n-gram search for Japanese."""

    __tablename__ = "issue_grams"
    __table_args__ = (Index("ix_issue_grams_gram", "gram", "issue_id"),)

    issue_id: Mapped[int] = mapped_column(
        ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True
    )
    gram: Mapped[str] = mapped_column(String(8), primary_key=True)


class IssueEvent(Base):
    """One change in an issue's history: status move, assignment or comment."""

    __tablename__ = "issue_events"
    __table_args__ = (Index("ix_issue_events_issue", "issue_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    actor_adapter: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str] = mapped_column(String(255))
    actor_name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))  # status | assign | comment
    from_value: Mapped[str | None] = mapped_column(String(255))
    to_value: Mapped[str | None] = mapped_column(String(255))
    comment: Mapped[str | None] = mapped_column(Text)


class AuditRecord(Base):
    """Who did what to which record, and when (監査記録)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor_adapter: Mapped[str | None] = mapped_column(String(32))
    actor_id: Mapped[str | None] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[int | None] = mapped_column(BigIntPK)
    detail: Mapped[dict[str, Any]]
    note: Mapped[str | None] = mapped_column(Text)
