"""mobile members: the outgoing register (流出) with consents, monthly report-ins, the incoming
register (流入)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TABLES = ("mobile_incoming", "mobile_reports", "mobile_registrations")


def upgrade() -> None:
    op.create_table(
        "mobile_registrations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("destination", sa.String(length=100), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("registered_by", sa.String(length=100), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("location_consent", sa.Boolean(), nullable=True),
        sa.Column("precise_consent", sa.Boolean(), nullable=True),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["members.id"], name=op.f("fk_mobile_registrations_contact_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_mobile_registrations_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mobile_registrations")),
        sa.UniqueConstraint("member_id", name=op.f("uq_mobile_registrations_member_id")),
    )

    op.create_table(
        "mobile_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("text", sa.String(length=200), nullable=False),
        sa.Column("place", sa.String(length=100), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("precise_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_mobile_reports_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mobile_reports")),
        sa.UniqueConstraint("member_id", "month", name="uq_mobile_reports_member_month"),
    )
    with op.batch_alter_table("mobile_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mobile_reports_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_mobile_reports_month"), ["month"], unique=False)
        batch_op.create_index(batch_op.f("ix_mobile_reports_precise_until"), ["precise_until"], unique=False)

    op.create_table(
        "mobile_incoming",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("phone_enc", sa.String(length=500), nullable=True),
        sa.Column("home_org", sa.String(length=100), nullable=False),
        sa.Column("place", sa.String(length=100), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_mobile_incoming_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["org_units.id"], name=op.f("fk_mobile_incoming_unit_id_org_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mobile_incoming")),
    )
    with op.batch_alter_table("mobile_incoming", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mobile_incoming_openid"), ["openid"], unique=False)
        batch_op.create_index(batch_op.f("ix_mobile_incoming_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_mobile_incoming_unit_id"), ["unit_id"], unique=False)


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
