"""notices.subject_member_id, notices.folded_keys: the member a notice is about, and the later events folded
into it (a secretary's one alert about a member's voice messages)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject_member_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("folded_keys", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.create_index(batch_op.f("ix_notices_subject_member_id"), ["subject_member_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_notices_subject_member_id_members"), "members", ["subject_member_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_notices_subject_member_id_members"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_notices_subject_member_id"))
        batch_op.drop_column("folded_keys")
        batch_op.drop_column("subject_member_id")
