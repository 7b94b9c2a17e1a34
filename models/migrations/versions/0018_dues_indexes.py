"""dues: an index on reversals (which payments are reversed, read for every chunk of dues_reminders) and on
members.created_at (the default dues start month is the month of the earliest member row)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 14:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain CREATE INDEX (no batch table copy): members carries the identity triggers (migration 0010).
    op.create_index(
        "ix_dues_entries_reverses_id",
        "dues_entries",
        ["reverses_id"],
        sqlite_where=sa.text("reverses_id IS NOT NULL"),
        postgresql_where=sa.text("reverses_id IS NOT NULL"),
    )
    op.create_index("ix_members_created_at", "members", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_members_created_at", table_name="members")
    op.drop_index("ix_dues_entries_reverses_id", table_name="dues_entries")
