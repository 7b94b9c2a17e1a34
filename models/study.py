"""学习园地: study materials (Markdown files with front matter, or links a secretary forwarded), indexed into
this table and versioned by content hash, and who confirmed reading which (已学)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class StudyMaterial(Base):
    """One study material. `slug` is its key across re-indexing: `shipped:<file>` (content/study),
    `community:<file>` (PARTYBOT_STUDY_DIR, relative path) or `link:<hash>` (a forwarded article). A file that
    changes gets a new `version`; a file that goes away becomes inactive (its reads stay)."""

    __tablename__ = "study_materials"
    __table_args__ = (Index("ix_study_materials_active_date", "active", "date"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(300), unique=True)
    source: Mapped[str] = mapped_column(String(10))  # shipped, community, link
    title: Mapped[str] = mapped_column(String(200))
    date: Mapped[date | None] = mapped_column(default=None)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    summary: Mapped[str] = mapped_column(Text, default="")
    audience: Mapped[str] = mapped_column(String(20), default="all")  # all, elderly, mobile, in_service
    unit_path: Mapped[str | None] = mapped_column(String(500), default=None)  # only this unit's subtree
    body: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(default=1)
    url: Mapped[str | None] = mapped_column(String(1000), default=None)  # a forwarded link's article
    added_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"), default=None)
    # The search index's tokens (jieba, space-separated), kept so a start-up need not cut every text again;
    # `tokenized_with` names the tokenizer and dictionary that made them (bot.domain.study_index).
    search_tokens: Mapped[str | None] = mapped_column(Text, default=None)
    tokenized_with: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    pushed_at: Mapped[datetime | None] = mapped_column(default=None)
    active: Mapped[bool] = mapped_column(default=True)


class StudyRead(Base):
    """已学: a member confirmed they studied a material (once per member and material)."""

    __tablename__ = "study_reads"
    __table_args__ = (
        UniqueConstraint("member_id", "material_id", name="uq_study_reads_member_material"),
        Index("ix_study_reads_material_id", "material_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    material_id: Mapped[int] = mapped_column(ForeignKey("study_materials.id"))
    version: Mapped[int] = mapped_column(default=1)  # the version they read
    at: Mapped[datetime]
