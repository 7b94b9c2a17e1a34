"""organisation life: events (主题党日 and 三会一课), invitations and answers, sign-in codes, attendance,
records (组织生活纪实) and their photos

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TABLES = (
    "event_sign_in_codes",
    "event_records",
    "event_photos",
    "event_invitations",
    "event_attendance",
    "events",
)


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=100), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("planned_date", sa.Date(), nullable=True),
        sa.Column("moved_for", sa.String(length=50), nullable=True),
        sa.Column("date_fixed", sa.Boolean(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("place", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["members.id"], name=op.f("fk_events_created_by_members")),
        sa.ForeignKeyConstraint(["unit_id"], ["org_units.id"], name=op.f("fk_events_unit_id_org_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("key", name=op.f("uq_events_key")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_month"), ["month"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_starts_at"), ["starts_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "event_attendance",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("how", sa.String(length=10), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_event_attendance_event_id_events")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_event_attendance_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["members.id"], name=op.f("fk_event_attendance_recorded_by_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_attendance")),
        sa.UniqueConstraint("event_id", "member_id", name="uq_event_attendance_event_member"),
    )
    with op.batch_alter_table("event_attendance", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_attendance_event_id"), ["event_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_event_attendance_member_id"), ["member_id"], unique=False)

    op.create_table(
        "event_invitations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("answer", sa.String(length=10), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("make_up_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("made_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_event_invitations_event_id_events")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_event_invitations_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_invitations")),
        sa.UniqueConstraint("event_id", "member_id", name="uq_event_invitations_event_member"),
    )
    with op.batch_alter_table("event_invitations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_invitations_event_id"), ["event_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_event_invitations_member_id"), ["member_id"], unique=False)

    op.create_table(
        "event_photos",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("media_id", sa.String(length=200), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name=op.f("fk_event_photos_event_id_events")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_photos")),
        sa.UniqueConstraint("event_id", "seq", name="uq_event_photos_event_seq"),
    )
    with op.batch_alter_table("event_photos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_photos_event_id"), ["event_id"], unique=False)

    op.create_table(
        "event_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["members.id"], name=op.f("fk_event_records_author_id_members")
        ),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name=op.f("fk_event_records_event_id_events")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_records")),
        sa.UniqueConstraint("event_id", name=op.f("uq_event_records_event_id")),
    )
    op.create_table(
        "event_sign_in_codes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["members.id"], name=op.f("fk_event_sign_in_codes_created_by_members")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_event_sign_in_codes_event_id_events")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_sign_in_codes")),
    )
    with op.batch_alter_table("event_sign_in_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_sign_in_codes_code_hash"), ["code_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_event_sign_in_codes_event_id"), ["event_id"], unique=False)


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
