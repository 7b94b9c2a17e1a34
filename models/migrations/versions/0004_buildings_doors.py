"""buildings and doors

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 09:39:24.469426
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "buildings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["unit_id"], ["org_units.id"], name=op.f("fk_buildings_unit_id_org_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buildings")),
        sa.UniqueConstraint("name", name=op.f("uq_buildings_name")),
    )
    op.create_table(
        "doors",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.ForeignKeyConstraint(
            ["building_id"], ["buildings.id"], name=op.f("fk_doors_building_id_buildings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_doors")),
        sa.UniqueConstraint("building_id", "name", name="uq_doors_building_name"),
    )
    with op.batch_alter_table("doors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_doors_building_id"), ["building_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("doors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_doors_building_id"))

    op.drop_table("doors")
    op.drop_table("buildings")
