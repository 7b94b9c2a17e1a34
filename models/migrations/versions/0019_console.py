"""the secretaries' web console: login codes sent in chat, server-side sessions, admin passwords, lockouts

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 15:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_login_codes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("nonce_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_login_codes")),
    )
    op.create_index(
        "ix_console_login_codes_code_expires_at", "console_login_codes", ["code", "expires_at"], unique=False
    )
    op.create_index(
        op.f("ix_console_login_codes_nonce_hash"), "console_login_codes", ["nonce_hash"], unique=False
    )
    op.create_index(
        op.f("ix_console_login_codes_expires_at"), "console_login_codes", ["expires_at"], unique=False
    )
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_sessions")),
    )
    op.create_index(op.f("ix_console_sessions_seen_at"), "console_sessions", ["seen_at"], unique=False)
    op.create_table(
        "console_passwords",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("admin_id", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=200), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["admin_id"], ["admins.id"], name=op.f("fk_console_passwords_admin_id_admins")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_passwords")),
        sa.UniqueConstraint("admin_id", name=op.f("uq_console_passwords_admin_id")),
    )
    op.create_table(
        "console_lockouts",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_console_lockouts")),
    )


def downgrade() -> None:
    op.drop_table("console_lockouts")
    op.drop_table("console_passwords")
    op.drop_index(op.f("ix_console_sessions_seen_at"), table_name="console_sessions")
    op.drop_table("console_sessions")
    op.drop_index(op.f("ix_console_login_codes_expires_at"), table_name="console_login_codes")
    op.drop_index(op.f("ix_console_login_codes_nonce_hash"), table_name="console_login_codes")
    op.drop_index("ix_console_login_codes_code_expires_at", table_name="console_login_codes")
    op.drop_table("console_login_codes")
