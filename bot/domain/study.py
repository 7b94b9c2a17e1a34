"""学习园地: who sees which material, files synced into the table (versioned by content hash), 已学 (a read,
and its points, once), a secretary's forwarded link, and the weekly push of new material to its audience.

The search index over these rows is bot.domain.study_index; the files themselves, bot.domain.study_files.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.domain import points
from bot.domain.members import VOICE_AGE, voice_on
from bot.domain.policy import within
from bot.domain.study_files import (
    MaterialFile,
    Problem,
    content_hash,
    material_paths,
    parse_material,
    relpath,
)
from bot.outbound.notices import add_system_notice
from models import Binding, DualReport, Member, OrgUnit, StudyMaterial, StudyRead
from models.db import Database, dialect_insert

SHIPPED, COMMUNITY, LINK = "shipped", "community", "link"
EVERY_AUDIENCE = frozenset({"all", "elderly", "mobile", "in_service"})
# New material is pushed weekly; what is older than this when the push comes is not news (a folder set up
# with years of articles does not flood everyone's phone). Shipped samples are the library's stock: never
# pushed.
NEW_FOR_DAYS = 30
# A push says what a material is about in about a minute read aloud (DOMAIN.md, elderly users: ~150
# characters), the title and this much of its summary.
PUSH_SUMMARY_CHARS = 120


def push_summary(summary: str) -> str:
    summary = " ".join(summary.split())
    return summary if len(summary) <= PUSH_SUMMARY_CHARS else summary[: PUSH_SUMMARY_CHARS - 1] + "…"


# --- who sees what --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Viewer:
    """What decides which materials a person sees: the audiences they belong to ("all" always), and their
    unit (a material for a unit is seen in that unit's subtree). An admin sees everything."""

    audiences: frozenset[str]
    unit_path: str | None
    sees_all: bool = False

    @property
    def key(self) -> tuple[frozenset[str], str | None, bool]:
        return self.audiences, self.unit_path, self.sees_all


def member_audiences(member: Member, this_year: int, *, dual_reported: bool = False) -> frozenset[str]:
    """all; elderly (70 or older, or notices read aloud: bot.domain.members.voice_on); mobile (流动, or away
    with a destination); in_service (在职, or registered through 双报到)."""
    found = {"all"}
    if (member.birth_year is not None and this_year - member.birth_year >= VOICE_AGE) or voice_on(
        member, this_year
    ):
        found.add("elderly")
    if member.kind == "流动" or member.mobile_destination:
        found.add("mobile")
    if member.kind == "在职" or dual_reported:
        found.add("in_service")
    return frozenset(found)


def viewer_for(
    session: Session,
    *,
    member_id: int | None,
    dual_report_id: int | None,
    unit_path: str | None,
    is_admin: bool,
    now: datetime,
) -> Viewer:
    if is_admin:
        return Viewer(EVERY_AUDIENCE, unit_path, sees_all=True)
    member = session.get(Member, member_id) if member_id is not None else None
    if member is not None:
        return Viewer(member_audiences(member, now.year), unit_path)
    if dual_report_id is not None:  # an in-service member confirmed through 双报到, not on this roster
        return Viewer(frozenset({"all", "in_service"}), unit_path)
    return Viewer(frozenset({"all"}), unit_path)


def visible(audience: str, unit_path: str | None, viewer: Viewer) -> bool:
    if viewer.sees_all:
        return True
    if audience not in viewer.audiences:
        return False
    return unit_path is None or (viewer.unit_path is not None and within(viewer.unit_path, unit_path))


# --- files into the table -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SyncResult:
    added: int = 0
    changed: int = 0
    removed: int = 0
    problems: tuple[Problem, ...] = ()

    @property
    def touched(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def slug_for(source: str, rel: str) -> str:
    return f"{source}:{rel}"


def _read_changed(
    directory: Path | None, source: str, known: dict[str, str]
) -> tuple[dict[str, MaterialFile | None], list[Problem]]:
    """Every file of the folder by slug: parsed when new or changed (its hash differs from `known`), None
    when unchanged or unreadable (kept as it is)."""
    present: dict[str, MaterialFile | None] = {}
    problems: list[Problem] = []
    if directory is None or not directory.is_dir():
        return present, problems
    for path in material_paths(directory):
        rel = relpath(path, directory)
        slug = slug_for(source, rel)
        try:
            data = path.read_bytes()
        except OSError:
            present[slug] = None
            continue
        if known.get(slug) == content_hash(data):
            present[slug] = None
            continue
        material, found = parse_material(data, path, rel)
        present[slug] = material
        problems += found
    return present, problems


def apply_sync(
    session: Session, source: str, present: dict[str, MaterialFile | None], now: datetime
) -> SyncResult:
    """Write one folder's files into the table: new ones added, changed ones a new version, files gone
    inactive (their reads stay), files back active. `present` maps every file there to its parsed material,
    or None for one unchanged (or unreadable: left as it was)."""
    rows = {
        row.slug: row for row in session.scalars(select(StudyMaterial).where(StudyMaterial.source == source))
    }
    added = changed = removed = 0
    fresh: list[dict[str, object]] = []
    for slug, material in present.items():
        row = rows.get(slug)
        if material is None:
            if row is not None and not row.active:
                row.active, row.updated_at = True, now
                changed += 1
            continue
        fields = {
            "title": material.title,
            "date": material.date,
            "tags": list(material.tags),
            "summary": material.summary,
            "audience": material.audience,
            "unit_path": material.unit_path,
            "body": material.body,
            "content_hash": material.content_hash,
            "search_tokens": None,
            "tokenized_with": None,
            "active": True,
            "updated_at": now,
        }
        if row is None:
            fresh.append({"slug": slug, "source": source, "version": 1, "created_at": now, **fields})
            added += 1
        elif row.content_hash != material.content_hash or not row.active:
            if row.content_hash != material.content_hash:
                row.version += 1
            for name, value in fields.items():
                setattr(row, name, value)
            changed += 1
    for slug, row in rows.items():
        if slug not in present and row.active:
            row.active, row.updated_at = False, now
            removed += 1
    if fresh:
        # Another process indexing the same folder at the same moment: its row stands, ours is skipped.
        session.execute(
            dialect_insert(session)(StudyMaterial)
            .values(fresh)
            .on_conflict_do_nothing(index_elements=["slug"])
        )
    return SyncResult(added, changed, removed)


async def sync_directory(db: Database, source: str, directory: Path | None, now: datetime) -> SyncResult:
    """Index one folder (content/study as `shipped`, PARTYBOT_STUDY_DIR as `community`): only new and changed
    files are parsed; files with problems stay out (an earlier good version of one stays in)."""
    async with db.read() as session:
        known = {
            str(slug): str(digest)
            for slug, digest in (
                await session.execute(
                    select(StudyMaterial.slug, StudyMaterial.content_hash).where(
                        StudyMaterial.source == source
                    )
                )
            ).all()
        }
    # No folder (not set, or gone): nothing present, so its materials go inactive.
    present, problems = await asyncio.to_thread(_read_changed, directory, source, known)
    result = await db.run(lambda session: apply_sync(session, source, present, now))
    return SyncResult(result.added, result.changed, result.removed, tuple(problems))


# --- 已学 ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadResult:
    first_time: bool  # False: they had confirmed this one before
    points: int  # points awarded now (0 the second time)


def study_key(material_id: int, member_id: int) -> str:
    return f"study:{material_id}:{member_id}"


def record_read(session: Session, member_id: int, material_id: int, now: datetime) -> ReadResult:
    """已学: the member studied this material. One read row and one award, ever (race-safe: unique keys)."""
    version = session.scalar(select(StudyMaterial.version).where(StudyMaterial.id == material_id)) or 1
    inserted = session.execute(
        dialect_insert(session)(StudyRead)
        .values(member_id=member_id, material_id=material_id, version=version, at=now)
        .on_conflict_do_nothing(index_elements=["member_id", "material_id"])
    )
    first = bool(getattr(inserted, "rowcount", 0))
    awarded = points.award(session, member_id, points.STUDY, study_key(material_id, member_id), now)
    return ReadResult(first, points.points_for(points.STUDY) if awarded else 0)


def has_read(session: Session, member_id: int, material_id: int) -> bool:
    return (
        session.scalar(
            select(StudyRead.id).where(StudyRead.member_id == member_id, StudyRead.material_id == material_id)
        )
        is not None
    )


# --- links a secretary forwards -------------------------------------------------------------------


def link_slug(url: str, unit_path: str | None) -> str:
    digest = hashlib.sha256(f"{unit_path or ''}\n{url.strip()}".encode()).hexdigest()[:32]
    return f"{LINK}:{digest}"


def add_link(
    session: Session,
    *,
    title: str,
    description: str,
    url: str,
    unit_path: str | None,
    added_by: int | None,
    now: datetime,
    timezone: str,
) -> tuple[int, bool]:
    """A forwarded article for a unit's subtree (None: everyone). Returns (material id, whether it is new):
    the same link for the same unit is one material."""
    slug = link_slug(url, unit_path)
    existing = session.scalar(select(StudyMaterial).where(StudyMaterial.slug == slug))
    if existing is not None:
        if not existing.active:
            existing.active, existing.updated_at = True, now
        return existing.id, False
    title = " ".join(title.split())[:200] or url[:200]
    description = description.strip()
    material = StudyMaterial(
        slug=slug,
        source=LINK,
        title=title,
        date=now.astimezone(ZoneInfo(timezone)).date(),
        tags=[],
        summary=" ".join(description.split())[:300],
        audience="all",
        unit_path=unit_path or None,
        body=description,
        content_hash=hashlib.sha256(f"{title}\n{description}\n{url}".encode()).hexdigest(),
        version=1,
        url=url.strip()[:1000],
        added_by=added_by,
        created_at=now,
        updated_at=now,
        active=True,
    )
    session.add(material)
    session.flush()
    return material.id, True


# --- the weekly push ------------------------------------------------------------------------------


def push_key(material: StudyMaterial) -> str:
    return f"study_push:{material.id}:{material.version}"


def due_for_push(session: Session, now: datetime, limit: int) -> list[StudyMaterial]:
    """Material not pushed yet that is new (indexed by `now`, dated within NEW_FOR_DAYS), newest first; the
    community's and forwarded links, never the shipped samples."""
    since = (now - timedelta(days=NEW_FOR_DAYS)).date()
    rows = session.scalars(
        select(StudyMaterial)
        .where(
            StudyMaterial.active.is_(True),
            StudyMaterial.source != SHIPPED,
            StudyMaterial.pushed_at.is_(None),
            StudyMaterial.created_at <= now,
            or_(StudyMaterial.date.is_(None), StudyMaterial.date >= since),
        )
        .order_by(StudyMaterial.date.desc(), StudyMaterial.id.desc())
    ).all()
    cutoff = now - timedelta(days=NEW_FOR_DAYS)
    return [r for r in rows if r.date is not None or r.created_at >= cutoff][:limit]


@dataclass(frozen=True, slots=True)
class Audience:
    member_ids: list[int]
    openids: list[str]  # in-service members confirmed through 双报到 (not on the roster)


def audience_of(session: Session, material: StudyMaterial, now: datetime) -> Audience:
    """Who a material is pushed to: the active members who would see it (its audience and unit), and for
    `all` and `in_service`, the in-service members registered in that part of the tree through 双报到."""
    rows = session.execute(
        select(Member, OrgUnit.path)
        .join(OrgUnit, Member.unit_id == OrgUnit.id)
        .where(Member.active.is_(True))
    ).all()
    member_ids = [
        member.id
        for member, path in rows
        if material.audience in member_audiences(member, now.year)
        and (material.unit_path is None or within(str(path), material.unit_path))
    ]
    openids: list[str] = []
    if material.audience in ("all", "in_service"):
        bound = set(session.scalars(select(Binding.openid)))
        for openid, path in session.execute(
            select(DualReport.openid, OrgUnit.path)
            .outerjoin(OrgUnit, DualReport.unit_id == OrgUnit.id)
            .where(DualReport.status == "confirmed")
        ).all():
            if openid not in bound and (
                material.unit_path is None or within(str(path or ""), material.unit_path)
            ):
                openids.append(str(openid))
    return Audience(member_ids, openids)


def push(session: Session, material_id: int, text: str, now: datetime) -> int:
    """Push one material to its audience (one notice, one outbox row per person: elderly and voice-mode
    members get it read aloud too, the unbound through a helper) and mark it pushed. Once per version:
    pushing again adds nothing. Returns how many it was sent to (0 when it had been pushed)."""
    material = session.get(StudyMaterial, material_id)
    if material is None or material.pushed_at is not None:
        return 0
    who = audience_of(session, material, now)
    add_system_notice(
        session, now, key=push_key(material), text=text, member_ids=who.member_ids, openids=who.openids
    )
    material.pushed_at = now
    return len(who.member_ids) + len(who.openids)


def dated(material_date: date | None, created_at: datetime, timezone: str) -> date:
    """The day a material is shown with and sorted by: its own date, else the day it was indexed."""
    return material_date or created_at.astimezone(ZoneInfo(timezone)).date()


def materials_by_id(session: Session, ids: Sequence[int]) -> dict[int, StudyMaterial]:
    if not ids:
        return {}
    return {m.id: m for m in session.scalars(select(StudyMaterial).where(StudyMaterial.id.in_(list(ids))))}


def shipped_dir() -> Path:
    """content/study: the samples shipped with partybot."""
    from importlib import resources

    return Path(str(resources.files("content"))) / "study"


def study_sources(study_dir: Path | None) -> list[tuple[str, Path | None]]:
    """The folders materials come from: the shipped samples, and the community's (PARTYBOT_STUDY_DIR)."""
    return [(SHIPPED, shipped_dir()), (COMMUNITY, study_dir)]


async def sync_all(db: Database, study_dir: Path | None, now: datetime) -> list[SyncResult]:
    """Index both folders (a job or a command that runs without the app's library)."""
    return [
        await sync_directory(db, source, directory, now) for source, directory in study_sources(study_dir)
    ]
