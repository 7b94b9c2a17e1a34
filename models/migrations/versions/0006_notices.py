"""notices, notice clips, and the outbox as the one way out (member, notice, channels, relay)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 10:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("author_openid", sa.String(length=64), nullable=True),
        sa.Column("unit_path", sa.String(length=500), nullable=False),
        sa.Column("audience", sa.String(length=20), nullable=False),
        sa.Column("audience_label", sa.String(length=200), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("mass_reports", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
    )
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notices_author_openid"), ["author_openid"], unique=False)

    op.create_table(
        "notice_clips",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("audio", sa.LargeBinary(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("media_id", sa.String(length=200), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["notices.id"], name=op.f("fk_notice_clips_notice_id_notices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_clips")),
        sa.UniqueConstraint("notice_id", "seq", name="uq_notice_clips_notice_seq"),
    )
    with op.batch_alter_table("notice_clips", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notice_clips_notice_id"), ["notice_id"], unique=False)

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("openid", existing_type=sa.String(length=64), nullable=True)
        batch_op.add_column(sa.Column("member_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("notice_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("wants_voice", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("voice_clips_sent", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("mass_batch", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("closed_channels", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("relay_member_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("relay_confirmed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_outbox_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_notice_id"), ["notice_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_mass_batch"), ["mass_batch"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_outbox_member_id_members"), "members", ["member_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_outbox_notice_id_notices"), "notices", ["notice_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_outbox_relay_member_id_members"), "members", ["relay_member_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_outbox_relay_member_id_members"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_outbox_notice_id_notices"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_outbox_member_id_members"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_outbox_mass_batch"))
        batch_op.drop_index(batch_op.f("ix_outbox_notice_id"))
        batch_op.drop_index(batch_op.f("ix_outbox_member_id"))
        for column in (
            "relay_confirmed_at",
            "relay_member_id",
            "closed_channels",
            "mass_batch",
            "voice_clips_sent",
            "wants_voice",
            "notice_id",
            "member_id",
        ):
            batch_op.drop_column(column)
        batch_op.alter_column("openid", existing_type=sa.String(length=64), nullable=False)
    op.drop_table("notice_clips")
    op.drop_table("notices")
