"""WeChat job reports that arrive before the send they report on was written

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 18:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "early_job_reports",
        sa.Column("msgid", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=100), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("msgid", name=op.f("pk_early_job_reports")),
    )
    op.create_index(
        op.f("ix_early_job_reports_received_at"), "early_job_reports", ["received_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_early_job_reports_received_at"), table_name="early_job_reports")
    op.drop_table("early_job_reports")
