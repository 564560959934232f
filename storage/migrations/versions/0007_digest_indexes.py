"""Indexes for the scheduled digests' aggregates (see storage/digest_queries.py).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 10:12:40.118204
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUS_EVENTS = sa.text("kind = 'status'")
MILESTONE_EVENTS = sa.text("kind = 'status' AND to_value IN ('pilot', 'implemented')")


def upgrade() -> None:
    op.create_index(
        "ix_issue_events_status_at",
        "issue_events",
        ["at", "to_value", "issue_id"],
        unique=False,
        postgresql_where=STATUS_EVENTS,
        sqlite_where=STATUS_EVENTS,
    )
    op.create_index(
        "ix_issue_events_milestones",
        "issue_events",
        ["to_value", "at", "issue_id"],
        unique=False,
        postgresql_where=MILESTONE_EVENTS,
        sqlite_where=MILESTONE_EVENTS,
    )
    op.create_index("ix_issues_created", "issues", ["created_at"], unique=False)
    op.create_index(
        "ix_issues_group_created", "issues", ["working_group", "created_at"], unique=False
    )
    op.create_index(
        "ix_issues_group_updated", "issues", ["working_group", "updated_at"], unique=False
    )
    op.create_index(
        "ix_issues_pipeline",
        "issues",
        ["section", "status", "fiscal_year", "annual_hours"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_issues_pipeline", table_name="issues")
    op.drop_index("ix_issues_group_updated", table_name="issues")
    op.drop_index("ix_issues_group_created", table_name="issues")
    op.drop_index("ix_issues_created", table_name="issues")
    op.drop_index("ix_issue_events_milestones", table_name="issue_events")
    op.drop_index("ix_issue_events_status_at", table_name="issue_events")
