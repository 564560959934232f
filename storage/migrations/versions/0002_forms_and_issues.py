"""Forms, sections, issues, support, search grams and the audit log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 21:15:11.641388
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_adapter", sa.String(length=32), nullable=True),
        sa.Column("actor_id", sa.String(length=255), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column(
            "subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_subject", "audit_log", ["subject_type", "subject_id"], unique=False)
    op.create_table(
        "form_sessions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("adapter", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("conversation_id", sa.String(length=255), nullable=False),
        sa.Column("form", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("progress", sa.JSON(), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("started_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("nudged_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_form_sessions_idle", "form_sessions", ["status", "updated_at"], unique=False
    )
    op.create_index(
        "ix_form_sessions_owner", "form_sessions", ["adapter", "user_id", "status"], unique=False
    )
    op.create_table(
        "issue_counters",
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("fiscal_year"),
    )
    op.create_table(
        "issues",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("section", sa.String(length=100), nullable=False),
        sa.Column("section_known", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("working_group", sa.String(length=100), nullable=True),
        sa.Column("reporter_adapter", sa.String(length=32), nullable=False),
        sa.Column("reporter_id", sa.String(length=255), nullable=False),
        sa.Column("reporter_name", sa.String(length=255), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("annual_hours", sa.Float(), nullable=False),
        sa.Column("contact_ok", sa.Boolean(), nullable=False),
        sa.Column("support_count", sa.Integer(), nullable=False),
        sa.Column(
            "form_session_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("fiscal_year", "seq", name="uq_issue_number"),
        sa.UniqueConstraint("form_session_id"),
        sa.UniqueConstraint("number"),
    )
    op.create_index("ix_issues_group", "issues", ["working_group", "status"], unique=False)
    op.create_index(
        "ix_issues_reporter", "issues", ["reporter_adapter", "reporter_id"], unique=False
    )
    op.create_index("ix_issues_section", "issues", ["section"], unique=False)
    op.create_index("ix_issues_status", "issues", ["status"], unique=False)
    op.create_table(
        "sections",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "issue_grams",
        sa.Column("issue_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("gram", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(["issue_id"], ["issues.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("issue_id", "gram"),
    )
    op.create_index("ix_issue_grams_gram", "issue_grams", ["gram", "issue_id"], unique=False)
    op.create_table(
        "issue_supports",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("issue_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("adapter", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["issue_id"], ["issues.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("issue_id", "adapter", "user_id", name="uq_issue_support"),
    )


def downgrade() -> None:
    op.drop_table("issue_supports")
    op.drop_index("ix_issue_grams_gram", table_name="issue_grams")
    op.drop_table("issue_grams")
    op.drop_table("sections")
    op.drop_index("ix_issues_status", table_name="issues")
    op.drop_index("ix_issues_section", table_name="issues")
    op.drop_index("ix_issues_reporter", table_name="issues")
    op.drop_index("ix_issues_group", table_name="issues")
    op.drop_table("issues")
    op.drop_table("issue_counters")
    op.drop_index("ix_form_sessions_owner", table_name="form_sessions")
    op.drop_index("ix_form_sessions_idle", table_name="form_sessions")
    op.drop_table("form_sessions")
    op.drop_index("ix_audit_subject", table_name="audit_log")
    op.drop_table("audit_log")
