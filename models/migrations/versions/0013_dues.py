"""党费: declared bases, the append-only dues ledger, members' 已交 claims, reductions/waivers and branch
rates

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TABLES = ("dues_unit_rates", "dues_adjustments", "dues_claims", "dues_entries", "dues_bases")


def upgrade() -> None:
    op.create_table(
        "dues_bases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("base_fen", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.String(length=7), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("set_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_dues_bases_member_id_members")),
        sa.ForeignKeyConstraint(["set_by"], ["members.id"], name=op.f("fk_dues_bases_set_by_members")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dues_bases")),
    )
    with op.batch_alter_table("dues_bases", schema=None) as batch_op:
        batch_op.create_index("ix_dues_bases_member_valid_from", ["member_id", "valid_from"], unique=False)

    op.create_table(
        "dues_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("month", sa.String(length=7), nullable=True),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("reverses_id", sa.Integer(), nullable=True),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_dues_entries_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["members.id"], name=op.f("fk_dues_entries_recorded_by_members")
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"], ["dues_entries.id"], name=op.f("fk_dues_entries_reverses_id_dues_entries")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["org_units.id"], name=op.f("fk_dues_entries_unit_id_org_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dues_entries")),
    )
    with op.batch_alter_table("dues_entries", schema=None) as batch_op:
        batch_op.create_index("ix_dues_entries_member_month", ["member_id", "month"], unique=False)
        batch_op.create_index(batch_op.f("ix_dues_entries_month"), ["month"], unique=False)
        batch_op.create_index(batch_op.f("ix_dues_entries_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "dues_claims",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("first_month", sa.String(length=7), nullable=False),
        sa.Column("last_month", sa.String(length=7), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["members.id"], name=op.f("fk_dues_claims_decided_by_members")
        ),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_dues_claims_member_id_members")),
        sa.ForeignKeyConstraint(["unit_id"], ["org_units.id"], name=op.f("fk_dues_claims_unit_id_org_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dues_claims")),
    )
    with op.batch_alter_table("dues_claims", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dues_claims_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_dues_claims_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_dues_claims_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "dues_adjustments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("first_month", sa.String(length=7), nullable=False),
        sa.Column("last_month", sa.String(length=7), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("approval_ref", sa.String(length=100), nullable=False),
        sa.Column("set_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_dues_adjustments_member_id_members")
        ),
        sa.ForeignKeyConstraint(["set_by"], ["members.id"], name=op.f("fk_dues_adjustments_set_by_members")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dues_adjustments")),
    )
    with op.batch_alter_table("dues_adjustments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dues_adjustments_member_id"), ["member_id"], unique=False)

    op.create_table(
        "dues_unit_rates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.String(length=7), nullable=False),
        sa.Column("set_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["set_by"], ["members.id"], name=op.f("fk_dues_unit_rates_set_by_members")),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["org_units.id"], name=op.f("fk_dues_unit_rates_unit_id_org_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dues_unit_rates")),
    )
    with op.batch_alter_table("dues_unit_rates", schema=None) as batch_op:
        batch_op.create_index("ix_dues_unit_rates_unit_kind", ["unit_id", "kind"], unique=False)


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
