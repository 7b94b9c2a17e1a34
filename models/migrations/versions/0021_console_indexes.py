"""The console dashboard's indexes: the latest change of members, tickets, ratings and events (the
fingerprint its per-process cache of a section's figures is checked against), and notices by when they
were written (a range of months of announcements).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 18:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_members_updated_at", "members", ["updated_at"]),
    ("ix_request_tickets_updated_at", "request_tickets", ["updated_at"]),
    ("ix_request_ratings_updated_at", "request_ratings", ["updated_at"]),
    ("ix_events_updated_at", "events", ["updated_at"]),
    ("ix_notices_created_at", "notices", ["created_at"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
