from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class Notice(Base):
    """One notice to many people (a secretary's 公告, a system notice): what was said, by whom, to whom.
    Delivery to each recipient is an outbox row (models.outbox) pointing here."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))  # announcement, system
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(100))  # audit actor: member:YX-002, cli:root, system
    author_openid: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    unit_path: Mapped[str] = mapped_column(String(500), default="")  # the audience's unit ("" = all)
    audience: Mapped[str] = mapped_column(String(20), default="all")  # all, in_service, elderly, mobile
    audience_label: Mapped[str] = mapped_column(String(200), default="")
    recipients: Mapped[int] = mapped_column(default=0)
    # The member a notice is about (a secretary's alert that a member's voice messages wait), if any.
    subject_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), default=None, index=True)
    # The keys of later events folded into this notice before it reached anyone (a second voice message
    # from the same member updates the alert instead of adding one): calling again with one adds nothing.
    folded_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    # MASSSENDJOBFINISH reports, by WeChat msg id: total, filtered, sent, errors.
    mass_reports: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]

    # A system notice is looked up by its key (`author`) before it is written: jobs do it once per event
    # or member.
    # The console dashboard reads a range of months of notices by created_at.
    __table_args__ = (
        Index("ix_notices_kind_author", "kind", "author"),
        Index("ix_notices_created_at", "created_at"),
    )


class NoticeClip(Base):
    """A notice read aloud: AMR clips (≤ 55 s, ≤ 2 MB) kept so they can be uploaded again when WeChat's
    temporary media expires (3 days)."""

    __tablename__ = "notice_clips"
    __table_args__ = (UniqueConstraint("notice_id", "seq", name="uq_notice_clips_notice_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), index=True)
    seq: Mapped[int]
    audio: Mapped[bytes] = mapped_column(LargeBinary)
    seconds: Mapped[float]
    media_id: Mapped[str | None] = mapped_column(String(200), default=None)
    uploaded_at: Mapped[datetime | None] = mapped_column(default=None)
