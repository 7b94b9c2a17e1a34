"""identity_changes and its triggers: who someone is follows changes made by any process

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models import identity_triggers

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_changes",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
        sa.Column("openid", sa.String(length=64), nullable=True),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.func.current_timestamp(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_changes")),
    )
    identity_triggers.create(op)


def downgrade() -> None:
    identity_triggers.drop(op)
    op.drop_table("identity_changes")
