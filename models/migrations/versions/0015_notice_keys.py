"""notices (kind, author): a system notice is found by its key (`theme_day:{event}:{kind}`, the dues and
report-in keys) before it is written; without an index each lookup scanned every notice written before it

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 10:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notices") as batch:
        batch.create_index("ix_notices_kind_author", ["kind", "author"])


def downgrade() -> None:
    with op.batch_alter_table("notices") as batch:
        batch.drop_index("ix_notices_kind_author")
