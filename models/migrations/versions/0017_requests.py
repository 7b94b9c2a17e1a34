"""residents' requests (居民诉求): tickets, their history, photos, ratings and duplicate links

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

TABLES = ("request_ratings", "request_photos", "request_links", "request_events", "request_tickets")


def upgrade() -> None:
    op.create_table(
        "request_tickets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("reporter_openid", sa.String(length=64), nullable=False),
        sa.Column("reporter_member_id", sa.Integer(), nullable=True),
        sa.Column("reporter_staff_id", sa.Integer(), nullable=True),
        sa.Column("reporter_name", sa.String(length=50), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=10), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("complex", sa.Boolean(), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=True),
        sa.Column("door", sa.String(length=50), nullable=True),
        sa.Column("place", sa.String(length=100), nullable=False),
        sa.Column("phone_enc", sa.Text(), nullable=True),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("taken_by_openid", sa.String(length=64), nullable=True),
        sa.Column("taken_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("taken_by_member_id", sa.Integer(), nullable=True),
        sa.Column("taken_by_name", sa.String(length=50), nullable=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("take_due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("solve_due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("solved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reopen_count", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=12), nullable=True),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("primary_id", sa.Integer(), nullable=True),
        sa.Column("take_step", sa.Integer(), nullable=False),
        sa.Column("solve_step", sa.Integer(), nullable=False),
        sa.Column("rate_step", sa.Integer(), nullable=False),
        sa.Column("next_step_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("filed_month", sa.String(length=7), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["building_id"], ["buildings.id"], name=op.f("fk_request_tickets_building_id_buildings")
        ),
        sa.ForeignKeyConstraint(
            ["primary_id"], ["request_tickets.id"], name=op.f("fk_request_tickets_primary_id_request_tickets")
        ),
        sa.ForeignKeyConstraint(
            ["reporter_member_id"], ["members.id"], name=op.f("fk_request_tickets_reporter_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["reporter_staff_id"], ["staff.id"], name=op.f("fk_request_tickets_reporter_staff_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["taken_by_member_id"], ["members.id"], name=op.f("fk_request_tickets_taken_by_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["taken_by_staff_id"], ["staff.id"], name=op.f("fk_request_tickets_taken_by_staff_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["org_units.id"], name=op.f("fk_request_tickets_unit_id_org_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_tickets")),
        sa.UniqueConstraint("number", name=op.f("uq_request_tickets_number")),
    )
    with op.batch_alter_table("request_tickets", schema=None) as batch_op:
        batch_op.create_index(
            "ix_request_tickets_building_category", ["building_id", "category", "filed_at"], unique=False
        )
        batch_op.create_index("ix_request_tickets_month_unit", ["filed_month", "unit_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_request_tickets_primary_id"), ["primary_id"], unique=False)
        batch_op.create_index("ix_request_tickets_reporter", ["reporter_openid", "filed_at"], unique=False)
        batch_op.create_index("ix_request_tickets_state_next_step", ["state", "next_step_at"], unique=False)
        batch_op.create_index("ix_request_tickets_state_solve_due", ["state", "solve_due"], unique=False)
        batch_op.create_index("ix_request_tickets_state_take_due", ["state", "take_due"], unique=False)
        batch_op.create_index("ix_request_tickets_unit_state", ["unit_id", "state"], unique=False)

    op.create_table(
        "request_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("actor_name", sa.String(length=50), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["request_tickets.id"], name=op.f("fk_request_events_ticket_id_request_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_events")),
    )
    with op.batch_alter_table("request_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_events_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "request_links",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("primary_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["primary_id"], ["request_tickets.id"], name=op.f("fk_request_links_primary_id_request_tickets")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["request_tickets.id"], name=op.f("fk_request_links_ticket_id_request_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_links")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_request_links_ticket_id")),
    )
    with op.batch_alter_table("request_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_links_primary_id"), ["primary_id"], unique=False)

    op.create_table(
        "request_photos",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("media_id", sa.String(length=200), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["request_tickets.id"], name=op.f("fk_request_photos_ticket_id_request_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_photos")),
        sa.UniqueConstraint("ticket_id", "seq", name="uq_request_photos_ticket_seq"),
    )
    with op.batch_alter_table("request_photos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_photos_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_request_photos_stored_at"), ["stored_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_request_photos_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "request_ratings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("words", sa.Text(), nullable=False),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_request_ratings_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["request_tickets.id"], name=op.f("fk_request_ratings_ticket_id_request_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_ratings")),
        sa.UniqueConstraint("ticket_id", "openid", "round", name="uq_request_ratings_ticket_openid_round"),
    )
    with op.batch_alter_table("request_ratings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_ratings_ticket_id"), ["ticket_id"], unique=False)


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
