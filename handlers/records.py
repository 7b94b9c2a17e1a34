"""纪实 (组织生活纪实): after a meeting has started, a secretary keeps its record — the text, then up to nine
photos sent one by one, `完成` saves. Sending `纪实` again for an event with a record shows it and offers to
write the text again or add photos. The photos are fetched from WeChat by the `record_photos` job.

Conversation `records`: step `text` → `photos` (→ saved), or `existing` → 1 (`text`) / 2 (`photos`). The
photos wait in the conversation (media id, when received) until `完成`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.policy import Action, may
from bot.domain.records import MAX_PHOTOS, TEXT_LIMITS, RecordView, Saved, record_for_unit, save_record
from bot.domain.theme_day import Schedule
from bot.edge.context import Context
from bot.edge.replies import Reply, TextReply
from bot.edge.router import Kind, Regex, Router, State
from bot.wechat.wire import Incoming
from models import OrgUnit

ENTRY = Regex(r"(?:组织生活|活动|保存)?纪实")
EXCERPT = 80  # characters of a kept record shown again


def router() -> Router:
    r = Router("records", numbered=("records",))

    @r.message(ENTRY)
    async def start(msg: Incoming, ctx: Context) -> Reply | None:
        if not may(ctx.identity, Action.KEEP_RECORDS):
            return TextReply(ctx.text("records_refused"))
        unit_id = await own_unit(ctx)
        if unit_id is None:
            return TextReply(ctx.text("records_no_unit"))
        now = ctx.clock.now()
        async with ctx.db.read() as session:
            view = await session.run_sync(lambda s: record_for_unit(s, unit_id, now))
        if view is None:
            return TextReply(ctx.text("records_no_event"))
        event = await event_label(ctx, view)
        step = "existing" if view.kept else "text"
        ctx.enter(
            "records", step=step, event=view.event_id, label=event, kept=view.photos, text=None, photos=[]
        )
        if view.kept:
            text = view.text or ""
            shown = text if len(text) <= EXCERPT else text[:EXCERPT] + "…"
            return TextReply(ctx.text("records_existing", event=event, text=shown, photos=view.photos))
        return TextReply(ctx.text("records_ask_text", event=event))

    @r.message(State("records"), Kind("image"))
    async def photo(msg: Incoming, ctx: Context) -> Reply | None:
        data = dict(ctx.conversation.data)
        if data.get("step") != "photos":
            if data.get("step") == "text":
                return TextReply(ctx.text("records_text_first"))
            return TextReply(ctx.text("records_existing_choose"))
        photos: list[list[str]] = [list(p) for p in data.get("photos", [])]
        count = int(data.get("kept", 0)) + len(photos)
        if count >= MAX_PHOTOS:
            return TextReply(ctx.text("records_photo_full", max=MAX_PHOTOS))
        if not msg.media_id:
            return TextReply(photo_hint(ctx, data))
        if msg.media_id not in {p[0] for p in photos}:
            photos.append([msg.media_id, ctx.clock.now().isoformat()])
            count += 1
        remember(ctx, photos=photos)
        if count >= MAX_PHOTOS:
            return TextReply(ctx.text("records_photo_last", count=count, max=MAX_PHOTOS))
        return TextReply(ctx.text("records_photo_received", count=count, left=MAX_PHOTOS - count))

    @r.message(State("records"))
    async def step(msg: Incoming, ctx: Context) -> Reply | None:
        data = dict(ctx.conversation.data)
        current = data.get("step")
        if current == "existing":
            return choose(ctx, data)
        if current == "text":
            text = (msg.raw_text or msg.text).strip()
            low, high = TEXT_LIMITS
            if msg.kind != "text" or not low <= len(text) <= high:
                return TextReply(ctx.text("records_text_bad", low=low, high=high))
            remember(ctx, step="photos", text=text)
            kept = int(data.get("kept", 0))
            if kept >= MAX_PHOTOS:
                return TextReply(ctx.text("records_ask_photos_full", photos=kept))
            return TextReply(ctx.text("records_ask_photos", left=MAX_PHOTOS - kept))
        if msg.text in set(ctx.content.texts["records_done_words"]):
            return await save(ctx, data)
        return TextReply(photo_hint(ctx, data))

    return r


def remember(ctx: Context, **values: Any) -> None:
    ctx.conversation.update(ctx.clock.now(), ctx.settings.conversation_ttl_s, **values)


def choose(ctx: Context, data: dict[str, Any]) -> Reply:
    """A record is kept: 1 writes the text again, 2 adds photos."""
    kept = int(data.get("kept", 0))
    if ctx.number == 1:
        remember(ctx, step="text")
        return TextReply(ctx.text("records_ask_text", event=data["label"]))
    if ctx.number == 2:
        if kept >= MAX_PHOTOS:
            return TextReply(ctx.text("records_no_room", max=MAX_PHOTOS))
        remember(ctx, step="photos")
        return TextReply(ctx.text("records_ask_more_photos", left=MAX_PHOTOS - kept))
    return TextReply(ctx.text("records_existing_choose"))


def photo_hint(ctx: Context, data: dict[str, Any]) -> str:
    count = int(data.get("kept", 0)) + len(data.get("photos", []))
    return ctx.text("records_photo_hint", count=count, left=max(0, MAX_PHOTOS - count))


async def save(ctx: Context, data: dict[str, Any]) -> Reply:
    if not may(ctx.identity, Action.KEEP_RECORDS):
        ctx.conversation.clear()
        return TextReply(ctx.text("records_refused"))
    event_id = int(data["event"])
    text = data.get("text")
    photos = [(str(m), datetime.fromisoformat(str(at))) for m, at in data.get("photos", [])]
    author, now = ctx.identity.member_id, ctx.clock.now()

    def keep(session: Session) -> Saved:
        return save_record(session, event_id, author, str(text) if text is not None else None, photos, now)

    saved = await ctx.db.run(keep)
    ctx.conversation.clear()
    return TextReply(
        ctx.text(
            "records_saved",
            event=data["label"],
            length=saved.text_length,
            photos=saved.photos,
            photo_note=ctx.text("records_photo_note") if saved.added else "",
        )
    )


async def own_unit(ctx: Context) -> int | None:
    """The unit a secretary keeps records and calls meetings for: their own (for a branch secretary the
    branch)."""
    path = ctx.identity.unit_path
    if path is None:
        return None
    async with ctx.db.read() as session:
        found = await session.scalar(select(OrgUnit.id).where(OrgUnit.path == path, OrgUnit.active.is_(True)))
    return int(found) if found is not None else None


async def event_label(ctx: Context, view: RecordView) -> str:
    """`第一网格党支部11月20日（星期五）09:00的主题党日（主题：…）`"""
    async with ctx.db.read() as session:
        unit = await session.scalar(select(OrgUnit.name).where(OrgUnit.id == view.unit_id))
    schedule = Schedule.of(ctx.settings)
    kinds: dict[str, str] = ctx.content.texts["event_kinds"]
    return ctx.text(
        "records_event",
        unit=unit or "",
        when=ctx.content.moment(schedule.local(view.starts_at)),
        kind=kinds.get(view.kind, view.kind),
        topic=ctx.text("records_topic_part", topic=view.topic) if view.topic else "",
    )
