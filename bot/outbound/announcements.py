"""公告 from the text to its status, for every surface that sends one: chat (handlers/announce.py) and the
secretaries' console (bot/console/announce_pages.py). Where one may send, the text as members read it and
its limits, the audience's preview and the words that sum it up, who is recorded as its author, which
notices one may see, and the words of a notice's status (公告状态). Audiences, outbox rows and reports are
bot.outbound.notices'; the words are content/texts.yaml's."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, false, func, or_, select, true
from sqlalchemy.orm import Session

from bot.content import Content
from bot.domain.policy import Action, Identity, scope, within
from bot.outbound.notices import (
    Audience,
    AudienceKind,
    NoticeReport,
    Preview,
    notice_body,
    preview,
    preview_notes,
    unit_name,
)
from bot.outbound.sizes import MAX_CHARS, MAX_PARTS, split_text
from bot.settings import Settings
from bot.wechat.account import Capability, allowed
from models import Member, Notice, OrgUnit, OutboxRow, OutboxStatus
from models.db import Database

# How an audience may be narrowed after its unit (chat: numbered options after the units; the console: a
# choice of these).
NARROWING = (AudienceKind.IN_SERVICE, AudienceKind.ELDERLY, AudienceKind.MOBILE)
PAGE_SIZE = 50


def broadcast_scope(identity: Identity) -> str | None:
    """The unit path under which `identity` may announce ("" everything), None when they may not."""
    return scope(identity, Action.BROADCAST)


def author_of(identity: Identity, fallback: str = "") -> str:
    """Who a notice records as its author: the member, else the WeChat user, else `fallback` (an
    administrator logged in to the console by password, who has no openid)."""
    if identity.member_number:
        return f"member:{identity.member_number}"
    if identity.openid:
        return f"openid:{identity.openid}"
    return fallback


# --- the text ----------------------------------------------------------------------------------------


class TextProblem(StrEnum):
    EMPTY = "empty"
    TOO_LONG = "too_long"


async def full_text(db: Database, content: Content, where: str, body: str) -> str:
    """The notice as members read it: 【source通知】 and the body; the source is the sender's own unit (their
    scope), whichever part of it the notice goes to."""
    async with db.read() as session:
        source = await unit_name(session, where, content)
    return content.text("notice_push", source=source, text=body)


def text_problem(body: str, full: str) -> TextProblem | None:
    """Why a text cannot be sent: nothing in it, or more than MAX_PARTS messages as members read it."""
    if not body.strip():
        return TextProblem.EMPTY
    if len(split_text(full)) > MAX_PARTS:
        return TextProblem.TOO_LONG
    return None


def too_long_words(content: Content, body: str) -> str:
    return content.text("announce_too_long", length=len(body), limit=MAX_CHARS)


# --- the audience and its preview ------------------------------------------------------------------------


async def child_units(db: Database, scope_path: str, limit: int = 20) -> list[tuple[str, str]]:
    """(path, name) of the units below `scope_path`, two levels deep: the audiences one may pick by number."""
    async with db.read() as session:
        rows = (
            await session.execute(
                select(OrgUnit.path, OrgUnit.name, OrgUnit.depth)
                .where(OrgUnit.active.is_(True))
                .order_by(OrgUnit.depth, OrgUnit.id)
            )
        ).all()
    base = scope_path.count("/") + 1 if scope_path else 0
    found = [
        (path, name)
        for path, name, _ in rows
        if path != scope_path
        and within(path, scope_path)
        and (path.count("/") + 1) - base <= 2
        and (scope_path or path.count("/") <= 2)
    ]
    return found[:limit]


async def unit_choices(db: Database, where: str) -> list[str]:
    """The units one may pick to send to: the scope's unit first, then the ones below it
    (child_units)."""
    return [where] + [path for path, _ in await child_units(db, where)]


async def announcement_preview(
    db: Database,
    content: Content,
    settings: Settings,
    now: datetime,
    *,
    where: str,
    audience: Audience,
    body: str,
    sender: int | None,
) -> Preview:
    """Who the announcement reaches (bot.outbound.notices.preview) with the text as members read it;
    `sender` (the member announcing) is not sent a copy."""
    text = await full_text(db, content, where, body)
    return await preview(db, content, audience, now, settings, text=text, sender=sender)


def passive_only(settings: Settings) -> bool:
    """The account cannot push (an unverified one): everything waits for a reply or a helper."""
    return not allowed(settings.wechat_account, Capability.CUSTOMER_SERVICE)


@dataclass(frozen=True, slots=True)
class PreviewWords:
    summary: str  # 将发送给：银杏社区党委，共 9 人（含您本人，…）。
    channels: str  # how it will go out
    notes: list[str] = field(default_factory=list)  # a long text, members without a mass send left


def preview_words(content: Content, settings: Settings, found: Preview) -> PreviewWords:
    """What the sender reads before confirming, in chat and in the console alike."""
    passive = passive_only(settings)
    unbound = content.text("announce_unbound_part", unbound=found.unbound) if found.unbound else ""
    summary = content.text(
        "announce_preview_summary",
        label=found.label,
        total=found.total,
        sender_part=content.text("announce_sender_part") if found.sender_included else "",
        voice=0 if passive else found.voice,
        unbound_part=unbound,
    )
    channels = content.text("announce_channels_passive" if passive else "announce_channels_verified")
    return PreviewWords(summary, channels, preview_notes(content, found))


# --- which notices one may see -------------------------------------------------------------------------


def visible(scope_path: str | None, author_openid: str | None) -> ColumnElement[bool]:
    """The announcements someone may see: their own, and any to a unit in their scope."""
    seen: list[ColumnElement[bool]] = []
    if author_openid:
        seen.append(Notice.author_openid == author_openid)
    if scope_path == "":
        seen.append(true())
    elif scope_path is not None:
        seen.append(or_(Notice.unit_path == scope_path, Notice.unit_path.startswith(scope_path + "/")))
    return or_(*seen) if seen else false()


async def recent_notices(
    db: Database, scope_path: str | None, author_openid: str | None, n: int = 3
) -> list[int]:
    """The latest announcements the asker may see (公告状态), newest first."""
    async with db.read() as session:
        query = select(Notice.id).where(Notice.kind == "announcement", visible(scope_path, author_openid))
        return list((await session.scalars(query.order_by(Notice.id.desc()).limit(n))).all())


def may_see(session: Session, notice_id: int, scope_path: str | None, author_openid: str | None) -> bool:
    query = select(Notice.id).where(
        Notice.id == notice_id, Notice.kind == "announcement", visible(scope_path, author_openid)
    )
    return session.scalar(query) is not None


@dataclass(frozen=True, slots=True)
class NoticeRow:
    id: int
    created_at: datetime
    author: str
    sender: str | None  # the member's name, when a member sent it
    unit_path: str
    label: str
    text: str
    recipients: int
    reached: int  # sent so far, by any channel


@dataclass(frozen=True, slots=True)
class NoticePage:
    rows: list[NoticeRow]
    total: int
    page: int
    pages: int


def notice_page(
    session: Session, scope_path: str | None, author_openid: str | None, page: int = 1, size: int = PAGE_SIZE
) -> NoticePage:
    """The announcements someone may see, newest first, a page at a time, with how many each reached."""
    where = (Notice.kind == "announcement", visible(scope_path, author_openid))
    total = int(session.scalar(select(func.count()).select_from(Notice).where(*where)) or 0)
    pages = max(1, (total + size - 1) // size)
    page = min(max(1, page), pages)
    reached = (
        select(OutboxRow.notice_id, func.count().label("n"))
        .where(OutboxRow.kind == "notice", OutboxRow.status == OutboxStatus.SENT.value)
        .group_by(OutboxRow.notice_id)
        .subquery()
    )
    found = session.execute(
        select(Notice, func.coalesce(reached.c.n, 0))
        .outerjoin(reached, reached.c.notice_id == Notice.id)
        .where(*where)
        .order_by(Notice.created_at.desc(), Notice.id.desc())
        .offset((page - 1) * size)
        .limit(size)
    ).all()
    numbers = {n.author.removeprefix("member:") for n, _ in found if n.author.startswith("member:")}
    names = (
        {
            n: name
            for n, name in session.execute(
                select(Member.number, Member.name).where(Member.number.in_(numbers))
            )
        }
        if numbers
        else {}
    )
    rows = [
        NoticeRow(
            notice.id,
            notice.created_at,
            notice.author,
            names.get(notice.author.removeprefix("member:")) if notice.author.startswith("member:") else None,
            notice.unit_path,
            notice.audience_label,
            notice.text,
            notice.recipients,
            int(n),
        )
        for notice, n in found
    ]
    return NoticePage(rows, total, page, pages)


# --- the words of a notice's status ------------------------------------------------------------------------


def title(text: str) -> str:
    """A notice's first words, as 公告状态 names it."""
    body = notice_body(text).replace("\n", " ")
    return body if len(body) <= 12 else body[:12] + "…"


def failure_words(content: Content, key: str) -> str:
    """A failure reason in words (texts.yaml failure_*), from the key its row stored."""
    return content.text(f"failure_{key}" if f"failure_{key}" in content.texts else "failure_other")


def failed_reasons(content: Content, item: NoticeReport) -> list[tuple[str, int]]:
    """Why rows failed, in words, most first."""
    reasons: Counter[str] = Counter()
    for key, n in item.failed.items():
        reasons[failure_words(content, key)] += n
    return reasons.most_common()


def local_when(content: Content, at: datetime, timezone: str) -> str:
    when = at.astimezone(ZoneInfo(timezone))
    return content.text("announce_when", month=when.month, day=when.day, time=f"{when:%H:%M}")


def relay_words(content: Content, member: str, helper: str, done: bool) -> str:
    return content.text(
        "announce_relay_name",
        member=member,
        helper=helper,
        state=content.text("relay_state_done" if done else "relay_state_pending"),
    )


def status_words(content: Content, item: NoticeReport, timezone: str) -> str:
    """One notice's line of 公告状态: reached by channel, waiting, relayed, failed, in doubt."""
    notice = item.notice
    by_channel = "，".join(
        f"{content.text('channel_' + c)} {n}" for c, n in item.by_channel.most_common() if c
    )
    names = "，".join(relay_words(content, *relayed) for relayed in item.relayed[:5])
    failed = "，".join(f"{reason} {n}" for reason, n in failed_reasons(content, item)[:3])
    return content.text(
        "announce_status_item",
        title=title(notice.text),
        when=local_when(content, notice.created_at, timezone),
        total=notice.recipients,
        sent=item.sent,
        by_channel=f"（{by_channel}）" if by_channel else "",
        waiting=item.waiting,
        relayed=len(item.relayed),
        relay_names=f"：{names}" if names else "",
        failed=sum(item.failed.values()),
        failed_reasons=f"（{failed}）" if failed else "",
        in_doubt=item.in_doubt,
        pending_part=content.text("announce_pending_part", pending=item.pending) if item.pending else "",
    )
