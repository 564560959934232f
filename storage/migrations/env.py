"""Alembic environment: dxbot passes an open connection in ``config.attributes``."""

from alembic import context

import storage.digest_queries  # the digest indexes
import storage.duties
import storage.schedule_runs  # noqa: F401 - every table and index on Base.metadata, for autogenerate
from storage import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `dxbot migrate`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
