"""Persistence: SQLAlchemy 2 models, engine set-up and Alembic migrations."""

from storage.engine import create_engine, session_factory
from storage.models import Base, InboxEvent, OutboxMessage, PendingChoices, Staff

__all__ = [
    "Base",
    "InboxEvent",
    "OutboxMessage",
    "PendingChoices",
    "Staff",
    "create_engine",
    "session_factory",
]
