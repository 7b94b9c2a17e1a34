"""organisation tree, members, staff, bindings, 双报到, audit log

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 09:23:20.792109
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "admins",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admins")),
        sa.UniqueConstraint("openid", name=op.f("uq_admins_openid")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("scope", sa.String(length=500), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_at", ["at"], unique=False)

    op.create_table(
        "binding_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_binding_attempts")),
    )
    with op.batch_alter_table("binding_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_binding_attempts_openid_at", ["openid", "at"], unique=False)

    op.create_table(
        "org_units",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("theme_day_rule", sa.String(length=50), nullable=True),
        sa.Column("buildings", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["org_units.id"], name=op.f("fk_org_units_parent_id_org_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_units")),
        sa.UniqueConstraint("path", name=op.f("uq_org_units_path")),
    )
    op.create_table(
        "volunteer_posts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("area", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volunteer_posts")),
        sa.UniqueConstraint("name", name=op.f("uq_volunteer_posts_name")),
    )
    op.create_table(
        "dual_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("phone_enc", sa.Text(), nullable=True),
        sa.Column("workplace_org", sa.String(length=200), nullable=False),
        sa.Column("building", sa.String(length=50), nullable=False),
        sa.Column("door", sa.String(length=50), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("volunteer_posts", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_by", sa.String(length=100), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["org_units.id"], name=op.f("fk_dual_reports_unit_id_org_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dual_reports")),
        sa.UniqueConstraint("openid", name="uq_dual_reports_openid"),
    )
    op.create_table(
        "members",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("gender", sa.String(length=4), nullable=True),
        sa.Column("birth_year", sa.Integer(), nullable=True),
        sa.Column("birth_month", sa.Integer(), nullable=True),
        sa.Column("phone_enc", sa.Text(), nullable=True),
        sa.Column("phone_tail_mac", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=4), nullable=False),
        sa.Column("joined_on", sa.Date(), nullable=True),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("post", sa.String(length=10), nullable=True),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("building", sa.String(length=50), nullable=True),
        sa.Column("door", sa.String(length=50), nullable=True),
        sa.Column("specialty", sa.String(length=100), nullable=True),
        sa.Column("volunteer_posts", sa.JSON(), nullable=False),
        sa.Column("voice_mode", sa.Boolean(), nullable=True),
        sa.Column("chat_preferences", sa.JSON(), nullable=False),
        sa.Column("helper_id", sa.Integer(), nullable=True),
        sa.Column("dues_base_fen", sa.Integer(), nullable=True),
        sa.Column("mobile_destination", sa.String(length=100), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["helper_id"], ["members.id"], name=op.f("fk_members_helper_id_members")),
        sa.ForeignKeyConstraint(["unit_id"], ["org_units.id"], name=op.f("fk_members_unit_id_org_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
        sa.UniqueConstraint("number", name=op.f("uq_members_number")),
    )
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_members_unit_id"), ["unit_id"], unique=False)
        batch_op.create_index("ix_members_unit_name", ["unit_id", "name"], unique=False)

    op.create_table(
        "staff",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("phone_enc", sa.Text(), nullable=True),
        sa.Column("phone_tail_mac", sa.String(length=64), nullable=True),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["unit_id"], ["org_units.id"], name=op.f("fk_staff_unit_id_org_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff")),
        sa.UniqueConstraint("number", name=op.f("uq_staff_number")),
    )
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "binding_codes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code_mac", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_binding_codes_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_binding_codes")),
        sa.UniqueConstraint("code_mac", name=op.f("uq_binding_codes_code_mac")),
    )
    with op.batch_alter_table("binding_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_binding_codes_member_id"), ["member_id"], unique=False)

    op.create_table(
        "binding_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_binding_requests_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_binding_requests")),
    )
    with op.batch_alter_table("binding_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_binding_requests_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_binding_requests_openid"), ["openid"], unique=False)

    op.create_table(
        "bindings",
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("bound_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_bindings_member_id_members")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_bindings_staff_id_staff")),
        sa.PrimaryKeyConstraint("openid", name=op.f("pk_bindings")),
        sa.UniqueConstraint("member_id", name=op.f("uq_bindings_member_id")),
        sa.UniqueConstraint("staff_id", name=op.f("uq_bindings_staff_id")),
    )
    op.create_table(
        "qr_binding_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_mac", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_qr_binding_tokens_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qr_binding_tokens")),
        sa.UniqueConstraint("token_mac", name=op.f("uq_qr_binding_tokens_token_mac")),
    )
    with op.batch_alter_table("qr_binding_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_qr_binding_tokens_member_id"), ["member_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("qr_binding_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_qr_binding_tokens_member_id"))

    op.drop_table("qr_binding_tokens")
    op.drop_table("bindings")
    with op.batch_alter_table("binding_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_binding_requests_openid"))
        batch_op.drop_index(batch_op.f("ix_binding_requests_member_id"))

    op.drop_table("binding_requests")
    with op.batch_alter_table("binding_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_binding_codes_member_id"))

    op.drop_table("binding_codes")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_unit_id"))

    op.drop_table("staff")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_index("ix_members_unit_name")
        batch_op.drop_index(batch_op.f("ix_members_unit_id"))

    op.drop_table("members")
    op.drop_table("dual_reports")
    op.drop_table("volunteer_posts")
    op.drop_table("org_units")
    with op.batch_alter_table("binding_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_binding_attempts_openid_at")

    op.drop_table("binding_attempts")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_at")

    op.drop_table("audit_log")
    op.drop_table("admins")
