"""Persistence: SQLAlchemy 2 models, engine set-up and Alembic migrations."""

from storage.directory import GroupLeader, WorkingGroup
from storage.downloads import Download
from storage.engine import create_engine, session_factory
from storage.forms import FormSession
from storage.issues import (
    AuditRecord,
    Issue,
    IssueCounter,
    IssueEvent,
    IssueGram,
    IssueSupport,
    Section,
)
from storage.models import Base, InboxEvent, OutboxMessage, PendingChoices, Staff

__all__ = [
    "AuditRecord",
    "Base",
    "Download",
    "FormSession",
    "GroupLeader",
    "InboxEvent",
    "Issue",
    "IssueCounter",
    "IssueEvent",
    "IssueGram",
    "IssueSupport",
    "OutboxMessage",
    "PendingChoices",
    "Section",
    "Staff",
    "WorkingGroup",
    "create_engine",
    "session_factory",
]
