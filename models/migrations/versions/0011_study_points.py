"""学习园地 and 积分: study materials (indexed from files and forwarded links, versioned by content hash),
who read which, and the points ledger

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 10:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "study_materials",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("slug", sa.String(length=300), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("date", sa.Date(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("audience", sa.String(length=20), nullable=False),
        sa.Column("unit_path", sa.String(length=500), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=True),
        sa.Column("added_by", sa.Integer(), nullable=True),
        sa.Column("search_tokens", sa.Text(), nullable=True),
        sa.Column("tokenized_with", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["added_by"], ["members.id"], name=op.f("fk_study_materials_added_by_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_materials")),
        sa.UniqueConstraint("slug", name=op.f("uq_study_materials_slug")),
    )
    with op.batch_alter_table("study_materials", schema=None) as batch_op:
        batch_op.create_index("ix_study_materials_active_date", ["active", "date"], unique=False)

    op.create_table(
        "study_reads",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("material_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_study_reads_member_id_members")),
        sa.ForeignKeyConstraint(
            ["material_id"], ["study_materials.id"], name=op.f("fk_study_reads_material_id_study_materials")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_reads")),
        sa.UniqueConstraint("member_id", "material_id", name="uq_study_reads_member_material"),
    )
    with op.batch_alter_table("study_reads", schema=None) as batch_op:
        batch_op.create_index("ix_study_reads_material_id", ["material_id"], unique=False)

    op.create_table(
        "point_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_point_entries_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["org_units.id"], name=op.f("fk_point_entries_unit_id_org_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_point_entries")),
        sa.UniqueConstraint("key", name=op.f("uq_point_entries_key")),
    )
    with op.batch_alter_table("point_entries", schema=None) as batch_op:
        batch_op.create_index("ix_point_entries_member_at", ["member_id", "at"], unique=False)
        batch_op.create_index(batch_op.f("ix_point_entries_unit_id"), ["unit_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_point_entries_at"), ["at"], unique=False)


def downgrade() -> None:
    op.drop_table("point_entries")
    op.drop_table("study_reads")
    op.drop_table("study_materials")
