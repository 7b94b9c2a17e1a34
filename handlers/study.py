"""学习园地: `学习` lists the newest five a member sees, `学习 关键词` the best five for the words; a number
opens one (its summary), `继续` reads on part by part, `已学` confirms the one opened (a read and its points,
once). A secretary who forwards an article (a link message) is asked whether to add it for their unit, and
whether to push it at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain import points, study
from bot.domain.policy import Action, Role, may, scope
from bot.domain.study_files import plain_text
from bot.domain.study_index import Entry, StudyLibrary
from bot.edge.context import Context
from bot.edge.replies import Reply, TextReply
from bot.edge.router import Intent, Kind, Number, Regex, Router, State
from bot.outbound.sizes import NOTICE_PART_BYTES, split_text
from bot.wechat.wire import Incoming
from handlers.member import not_member
from models import OrgUnit, StudyMaterial, StudyRead

LISTED = 5
PREFIXES = ("学习园地", "学习资料", "学习")
# A part of a material: what one message holds beside its header and hint (bot.outbound.sizes).
PART_BYTES = NOTICE_PART_BYTES
CONTINUE = r"(?:继续|继续阅读|接着看|接着读|下一段|往下看|看下一段)"
DONE = r"(?:已学|已学习|学完了|已学完|学好了|看完了|读完了)"


def router() -> Router:
    r = Router("study", numbered=("study", "study_link"))

    @r.route(Kind("link"), lambda msg, ctx: ctx.identity.is_member or Role.ADMIN in ctx.identity.roles)
    async def forwarded(msg: Incoming, ctx: Context) -> Reply | None:
        if not may(ctx.identity, Action.ADD_STUDY):
            return TextReply(ctx.text("study_link_refused"))
        url = (msg.fields.get("Url") or "").strip()
        if not url:
            return TextReply(ctx.text("study_link_bad"))
        title = " ".join((msg.fields.get("Title") or "").split()) or url
        description = (msg.fields.get("Description") or "").strip()
        ctx.enter("study_link", title=title[:200], description=description[:2000], url=url[:1000])
        return TextReply(ctx.text("study_link_ask", title=title, unit=await unit_label(ctx)))

    @r.message(State("study_link"))
    async def link_choice(msg: Incoming, ctx: Context) -> Reply | None:
        if ctx.number not in (1, 2):
            return TextReply(ctx.text("study_link_pick"))
        return await add_link(ctx, push_now=ctx.number == 2)

    @r.route(Intent("study"), searching)
    async def list_or_search(msg: Incoming, ctx: Context) -> Reply | None:
        if not may(ctx.identity, Action.READ_STUDY):
            return not_member(ctx)
        query = str(ctx.match.get("query", ""))
        library = await ready_library(ctx)
        viewer, read = await viewer_and_reads(ctx)
        if not query:
            found = library.newest(viewer, LISTED)
            if not found:
                ctx.conversation.clear()
                return TextReply(ctx.text("study_empty"))
            return listing(ctx, "study_list", found, read(found))
        found = library.search(query, viewer, LISTED)
        if found:
            return listing(ctx, "study_found", found, read(found), query=query)
        newest = library.newest(viewer, LISTED)
        if not newest:
            ctx.conversation.clear()
            return TextReply(ctx.text("study_empty"))
        return listing(ctx, "study_not_found", newest, read(newest), query=query)

    @r.message(State("study"), Number())
    async def open_one(msg: Incoming, ctx: Context) -> Reply | None:
        ids = [int(i) for i in ctx.conversation.data.get("ids", [])]
        number = int(ctx.match["number"])
        if not 1 <= number <= len(ids):
            return TextReply(ctx.text("study_pick_range", count=len(ids)))
        material_id = ids[number - 1]
        async with ctx.db.read() as session:
            material = await session.get(StudyMaterial, material_id)
        if material is None or not material.active:
            return TextReply(ctx.text("study_gone"))
        parts = body_parts(material)
        ctx.conversation.update(ctx.clock.now(), ctx.settings.conversation_ttl_s, open=material_id, part=0)
        shown = show_date(ctx, study.dated(material.date, material.created_at, ctx.settings.timezone))
        summary = material.summary.strip()
        if material.url:
            return TextReply(
                ctx.text(
                    "study_open_link",
                    title=material.title,
                    date=shown,
                    summary=summary + "\n" if summary else "",
                    url=material.url,
                )
            )
        key = "study_open" if len(parts) > 1 else "study_open_short"
        return TextReply(ctx.text(key, title=material.title, date=shown, summary=summary, parts=len(parts)))

    @r.message(State("study"), Regex(CONTINUE))
    @r.route(State("study"), Intent("next_page"))
    async def read_on(msg: Incoming, ctx: Context) -> Reply | None:
        data = ctx.conversation.data
        if data.get("open") is None:
            return TextReply(ctx.text("study_nothing_open"))
        async with ctx.db.read() as session:
            material = await session.get(StudyMaterial, int(data["open"]))
        if material is None or not material.active:
            return TextReply(ctx.text("study_gone"))
        parts = body_parts(material)
        index = int(data.get("part", 0))
        if material.url or index >= len(parts):
            return TextReply(ctx.text("study_no_more"))
        ctx.conversation.update(ctx.clock.now(), ctx.settings.conversation_ttl_s, part=index + 1)
        last = index + 1 == len(parts)
        return TextReply(
            ctx.text(
                "study_part",
                title=material.title,
                part=index + 1,
                parts=len(parts),
                text=parts[index],
                hint=ctx.text("study_part_last" if last else "study_part_more"),
            )
        )

    @r.message(State("study"), Regex(DONE), lambda msg, ctx: ctx.conversation.data.get("open") is not None)
    async def done(msg: Incoming, ctx: Context) -> Reply | None:
        material_id = int(ctx.conversation.data["open"])
        member_id, now, timezone = ctx.identity.member_id, ctx.clock.now(), ctx.settings.timezone

        def confirm(session: Session) -> tuple[str, study.ReadResult | None, int] | None:
            material = session.get(StudyMaterial, material_id)
            if material is None:
                return None
            if member_id is None:
                return material.title, None, 0
            result = study.record_read(session, member_id, material_id, now)
            return material.title, result, points.summary(session, member_id, now, timezone).month

        outcome = await ctx.db.run(confirm)
        if outcome is None:
            return TextReply(ctx.text("study_gone"))
        title, result, month = outcome
        if result is None:
            return TextReply(ctx.text("study_done_not_recorded", title=title))
        if not result.points and not result.first_time:
            return TextReply(ctx.text("study_done_again", title=title))
        return TextReply(ctx.text("study_done", title=title, points=result.points, month=month))

    return r


def searching(msg: Incoming, ctx: Context) -> dict[str, Any] | bool:
    """`学习` (always, like a menu item) or `学习 关键词` (the words after the command) — the latter not while
    another capability's conversation waits for free text (a theme day's topic may well begin with 学习)."""
    text = msg.text.strip()
    query = ""
    for prefix in PREFIXES:
        if text.startswith(prefix):
            query = text[len(prefix) :].strip(" :：,，")
            break
    name = ctx.conversation.name
    if query and name is not None and not name.startswith("study"):
        return False
    return {"query": query}


async def ready_library(ctx: Context) -> StudyLibrary:
    library = ctx.services.study
    assert library is not None, "the study library is built at start-up"
    await library.refresh(ctx.clock.now())
    return library


async def viewer_and_reads(ctx: Context) -> tuple[study.Viewer, Callable[[list[Entry]], set[int]]]:
    """Who is looking (audiences, unit), and which materials of a list they have confirmed already."""
    identity, now = ctx.identity, ctx.clock.now()

    def load(session: Session) -> tuple[study.Viewer, set[int]]:
        viewer = study.viewer_for(
            session,
            member_id=identity.member_id,
            dual_report_id=identity.dual_report_id,
            unit_path=identity.unit_path,
            is_admin=Role.ADMIN in identity.roles,
            now=now,
        )
        done: set[int] = set()
        if identity.member_id is not None:
            done = set(
                session.scalars(
                    select(StudyRead.material_id).where(StudyRead.member_id == identity.member_id)
                )
            )
        return viewer, done

    async with ctx.db.read() as session:
        viewer, done = await session.run_sync(load)

    def read(entries: list[Entry]) -> set[int]:
        return {e.id for e in entries if e.id in done}

    return viewer, read


def listing(ctx: Context, key: str, entries: list[Entry], read: set[int], **values: object) -> Reply:
    ctx.enter("study", ids=[e.id for e in entries], open=None, part=0)
    lines = "\n".join(
        ctx.text(
            "study_line",
            number=i,
            title=e.title,
            date=show_date(ctx, e.shown),
            read=ctx.text("study_line_read") if e.id in read else "",
        )
        for i, e in enumerate(entries, 1)
    )
    return TextReply(ctx.text(key, lines=lines, count=len(entries), **values))


def show_date(ctx: Context, day: date) -> str:
    this_year = ctx.clock.now().astimezone(ZoneInfo(ctx.settings.timezone)).year
    if day.year == this_year:
        return ctx.text("study_date", month=day.month, day=day.day)
    return ctx.text("study_date_year", year=day.year, month=day.month, day=day.day)


def body_parts(material: StudyMaterial) -> list[str]:
    """The text as the messages `继续` shows: compact (one line per paragraph, no heading repeating the
    title), cut at sentence ends."""
    text = plain_text(material.body) if material.source == study.LINK else material.body
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and lines[0].strip() == material.title.strip():
        lines = lines[1:]
    text = "\n".join(lines)
    return split_text(text, PART_BYTES) if text.strip() else []


async def unit_label(ctx: Context) -> str:
    path = scope(ctx.identity, Action.ADD_STUDY)
    if not path:
        return ctx.content.community_name
    async with ctx.db.read() as session:
        name = await session.scalar(select(OrgUnit.name).where(OrgUnit.path == path))
    return name or path.rsplit("/", 1)[-1]


def push_text(ctx: Context, title: str, summary: str) -> str:
    return ctx.text("study_push", title=title, summary=summary + "\n" if summary else "")


async def add_link(ctx: Context, *, push_now: bool) -> Reply:
    data = dict(ctx.conversation.data)
    ctx.conversation.clear()
    if not may(ctx.identity, Action.ADD_STUDY):
        return TextReply(ctx.text("study_link_refused"))
    unit_path = scope(ctx.identity, Action.ADD_STUDY) or None
    now, timezone, member_id = ctx.clock.now(), ctx.settings.timezone, ctx.identity.member_id
    title, description, url = str(data["title"]), str(data["description"]), str(data["url"])
    text = push_text(ctx, title, study.push_summary(description))

    def save(session: Session) -> tuple[int, bool, int]:
        material_id, new = study.add_link(
            session,
            title=title,
            description=description,
            url=url,
            unit_path=unit_path,
            added_by=member_id,
            now=now,
            timezone=timezone,
        )
        sent = study.push(session, material_id, text, now) if new and push_now else 0
        return material_id, new, sent

    _, new, sent = await ctx.db.run(save)
    if ctx.services.study is not None:
        ctx.services.study.invalidate()
    if not new:
        return TextReply(ctx.text("study_link_exists", title=title))
    unit = await unit_label(ctx)
    if push_now:
        return TextReply(ctx.text("study_link_pushed", title=title, unit=unit, count=sent))
    return TextReply(ctx.text("study_link_added", title=title, unit=unit))
