"""binding_codes / qr_binding_tokens.staff_id: codes and personal QR codes for grid workers (网格员) too

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLES = ("binding_codes", "qr_binding_tokens")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("member_id", existing_type=sa.Integer(), nullable=True)
            batch_op.add_column(sa.Column("staff_id", sa.Integer(), nullable=True))
            batch_op.create_index(batch_op.f(f"ix_{table}_staff_id"), ["staff_id"], unique=False)
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{table}_staff_id_staff"), "staff", ["staff_id"], ["id"]
            )


def downgrade() -> None:
    for table in TABLES:
        # A grid worker's code or QR token has no member to point at: it goes (they are short-lived).
        op.execute(sa.text(f"DELETE FROM {table} WHERE member_id IS NULL"))
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f"fk_{table}_staff_id_staff"), type_="foreignkey")
            batch_op.drop_index(batch_op.f(f"ix_{table}_staff_id"))
            batch_op.drop_column("staff_id")
            batch_op.alter_column("member_id", existing_type=sa.Integer(), nullable=False)
