"""Alembic environment: always handed a connection by models.migrate; batch mode for SQLite ALTERs."""

from __future__ import annotations

from alembic import context

from models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `partybot db upgrade` (models.migrate), not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
