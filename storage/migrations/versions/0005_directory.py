"""Directory: staff section and status, working groups and their leaders.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 14:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("staff", sa.Column("section", sa.String(length=100), nullable=True))
    # A server default: rows the chat creates (storage.models.Staff) do not name the column.
    op.add_column(
        "staff", sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true())
    )
    op.create_table(
        "working_groups",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("adapter", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=255), nullable=True),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("sections", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "group_leaders",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("group_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("adapter", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["working_groups.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("group_id", "adapter", "user_id", name="uq_group_leader"),
    )
    # identify_user looks a person's groups up by platform id on every event.
    op.create_index("ix_group_leaders_user", "group_leaders", ["adapter", "user_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_group_leaders_user", table_name="group_leaders")
    op.drop_table("group_leaders")
    op.drop_table("working_groups")
    with op.batch_alter_table("staff") as batch:  # SQLite cannot always drop in place
        batch.drop_column("active")
        batch.drop_column("section")
