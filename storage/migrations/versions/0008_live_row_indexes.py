"""Partial indexes on the live rows of the inbox and the outbox.

Handled events and sent messages are kept, so claiming in id order by the old indexes walked
past every one of them: a claim grew slower with every message the town ever sent (3 ms at
17,000 sent rows on PostgreSQL). These indexes hold only the rows still to do.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 01:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INBOX_LIVE = sa.text("status = 'pending'")
OUTBOX_LIVE = sa.text("status IN ('pending', 'sending')")


def upgrade() -> None:
    op.create_index(
        "ix_inbox_live",
        "inbox",
        ["id"],
        unique=False,
        postgresql_where=INBOX_LIVE,
        sqlite_where=INBOX_LIVE,
    )
    op.create_index(
        "ix_outbox_live",
        "outbox",
        ["id"],
        unique=False,
        postgresql_where=OUTBOX_LIVE,
        sqlite_where=OUTBOX_LIVE,
    )
    op.drop_index("ix_inbox_pending", table_name="inbox")


def downgrade() -> None:
    op.create_index("ix_inbox_pending", "inbox", ["status", "id"], unique=False)
    op.drop_index("ix_outbox_live", table_name="outbox")
    op.drop_index("ix_inbox_live", table_name="inbox")
