"""members' suggestions (党员资政): numbered, answered by the branch secretary

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 14:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "suggestions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_by", sa.String(length=100), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_suggestions_member_id_members")),
        sa.ForeignKeyConstraint(["unit_id"], ["org_units.id"], name=op.f("fk_suggestions_unit_id_org_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suggestions")),
        sa.UniqueConstraint("number", name=op.f("uq_suggestions_number")),
    )
    with op.batch_alter_table("suggestions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_suggestions_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_suggestions_unit_id"), ["unit_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_suggestions_status"), ["status"], unique=False)


def downgrade() -> None:
    op.drop_table("suggestions")
