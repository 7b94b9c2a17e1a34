"""Notices to many people: who is in an audience, the preview a secretary confirms, one outbox row per
recipient, helpers who relay (`relay`), and what became of each notice (公告状态).

Delivery itself is bot.outbound.worker's; this module only writes rows (idempotent keys, one transaction)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ARRAY, Table, Text, cast, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, aliased

from bot.content import Content
from bot.domain.members import voice_on
from bot.domain.policy import within
from bot.outbound.quota import quota_spent
from bot.outbound.sizes import split_text
from bot.settings import Settings
from models import Binding, EarlyJobReport, Member, Notice, NoticeClip, OrgUnit, OutboxRow, OutboxStatus
from models.db import Database, dialect_insert

OUTBOX: Table = OutboxRow.__table__  # type: ignore[assignment]  # declarative tables are Tables


class Channel(StrEnum):
    CUSTOMER_SERVICE = "customer_service"
    TEMPLATE = "template"
    SUBSCRIPTION = "subscription"
    MASS_SEND = "mass_send"
    NEXT_REPLY = "next_reply"
    RELAY = "relay"


class AudienceKind(StrEnum):
    ALL = "all"
    IN_SERVICE = "in_service"  # 在职
    ELDERLY = "elderly"  # voice mode (70+ or chosen)
    MOBILE = "mobile"  # 流动


@dataclass(frozen=True, slots=True)
class Audience:
    unit_path: str  # "" = the whole deployment (an admin)
    kind: AudienceKind = AudienceKind.ALL


def kind_label(content: Content, kind: AudienceKind) -> str:
    """全体党员, 在职党员, ... (content/texts.yaml)."""
    return content.text(f"audience_{kind.value}")


def notice_body(text: str) -> str:
    """A notice's words without its 【…通知】 header."""
    return text.split("】", 1)[-1].strip() if text.startswith("【") else text.strip()


def failure_reason(last_error: str | None) -> str:
    """The reason key a failed row's last_error starts with ("no_helper: …", "43004: …")."""
    return (last_error or "").split(":", 1)[0].strip() or "other"


@dataclass(frozen=True, slots=True)
class Recipient:
    member_id: int
    name: str
    openid: str | None
    voice: bool


@dataclass(frozen=True, slots=True)
class Preview:
    """Who an announcement reaches, as the chat (公告) and the CLI (`partybot broadcast`) both show it."""

    audience: Audience
    label: str
    members: list[Recipient]  # the audience: every active member of the unit's subtree of that kind
    sender: int | None = None  # the member announcing (in chat), who is not sent a copy
    parts: int = 1  # messages the text takes (split_text)
    chars: int = 0
    # Members a mass send would reach whose month has none left for this announcement: at their next
    # message instead (bot.outbound.quota, the worker's rule).
    quota_spent: int = 0

    @property
    def total(self) -> int:
        """The audience's size: the same number in chat and in the CLI."""
        return len(self.members)

    @property
    def recipients(self) -> list[Recipient]:
        """Who is sent a copy: the audience without the sender."""
        return [r for r in self.members if r.member_id != self.sender]

    @property
    def sender_included(self) -> bool:
        return self.sender is not None and any(r.member_id == self.sender for r in self.members)

    @property
    def unbound(self) -> int:
        return sum(1 for r in self.recipients if r.openid is None)

    @property
    def voice(self) -> int:
        return sum(1 for r in self.recipients if r.voice and r.openid is not None)


def _kind_matches(member: Member, kind: AudienceKind, year: int) -> bool:
    if kind is AudienceKind.ALL:
        return True
    if kind is AudienceKind.IN_SERVICE:
        return member.kind == "在职"
    if kind is AudienceKind.MOBILE:
        return member.kind == "流动" or bool(member.mobile_destination)
    return voice_on(member, year)


async def unit_name(session: AsyncSession, path: str, content: Content) -> str:
    """The unit's name; the whole deployment ("", an admin's scope) is the community's."""
    if not path:
        return content.community_name
    name = await session.scalar(select(OrgUnit.name).where(OrgUnit.path == path))
    return name or path.rsplit("/", 1)[-1]


async def preview(
    db: Database,
    content: Content,
    audience: Audience,
    now: datetime,
    settings: Settings,
    *,
    text: str = "",
    sender: int | None = None,
) -> Preview:
    """Who an announcement would reach: active members of the unit's subtree (and the kind asked for),
    with their openid when bound and whether they get voice; `sender` (in chat) is not sent a copy. With
    the notice's `text`: how many messages it takes, and how many recipients a mass send would reach who
    have none left this month."""
    async with db.read() as session:
        rows = (
            await session.execute(
                select(Member, OrgUnit.path, Binding.openid)
                .join(OrgUnit, Member.unit_id == OrgUnit.id)
                .outerjoin(Binding, Binding.member_id == Member.id)
                .where(Member.active.is_(True))
                .order_by(Member.id)
            )
        ).all()
        name = await unit_name(session, audience.unit_path, content)
    year = now.year
    members = [
        Recipient(member.id, member.name, openid, voice_on(member, year))
        for member, path, openid in rows
        if within(path, audience.unit_path) and _kind_matches(member, audience.kind, year)
    ]
    label = (
        name
        if audience.kind is AudienceKind.ALL
        else content.text("audience_label", unit=name, kind=kind_label(content, audience.kind))
    )
    parts = len(split_text(text)) if text else 1
    openids = [r.openid for r in members if r.openid is not None and r.member_id != sender]
    spent = 0
    if parts == 1:  # a notice of several messages is never mass-sent
        async with db.read() as session:
            spent = await session.run_sync(
                lambda sync: quota_spent(sync, openids, now, settings, audience.unit_path)
            )
    return Preview(audience, label, members, sender, parts, len(text.strip()), spent)


def preview_notes(content: Content, found: Preview) -> list[str]:
    """What a secretary should know before confirming (the chat and `partybot broadcast` alike): a text
    longer than one message, and members whose month has no mass send left for it."""
    notes = []
    if found.parts > 1:
        notes.append(content.text("announce_long", chars=found.chars, parts=found.parts))
    if found.quota_spent:
        notes.append(content.text("announce_quota_spent", count=found.quota_spent))
    return notes


def notice_key(notice_id: int, member_id: int) -> str:
    return f"notice:{notice_id}:member:{member_id}"


async def enqueue_announcement(
    db: Database,
    now: datetime,
    *,
    text: str,
    audience: Audience,
    label: str,
    author: str,
    author_openid: str | None,
    recipients: Sequence[Recipient],
) -> int:
    """Store the notice and one queued outbox row per recipient, in one transaction. Returns its id."""
    return await db.run(
        lambda s: add_announcement(
            s, now, audience, recipients, text=text, label=label, author=author, author_openid=author_openid
        )
    )


def add_announcement(
    session: Session,
    now: datetime,
    audience: Audience,
    recipients: Sequence[Recipient],
    *,
    text: str,
    label: str,
    author: str,
    author_openid: str | None,
) -> int:
    """enqueue_announcement inside a transaction the caller already has (the console's one-time confirm)."""
    notice = Notice(
        kind="announcement",
        text=text,
        author=author,
        author_openid=author_openid,
        unit_path=audience.unit_path,
        audience=audience.kind.value,
        audience_label=label,
        recipients=len(recipients),
        mass_reports={},
        created_at=now,
    )
    session.add(notice)
    session.flush()
    _add_rows(session, notice.id, recipients, now)
    return notice.id


def outbox_values(key: str, kind: str, now: datetime, **fields: object) -> dict[str, object]:
    """A new outbox row's column values: queued, nothing tried yet, plus `fields`."""
    return {
        "idempotency_key": key,
        "kind": kind,
        "status": OutboxStatus.QUEUED.value,
        "payload": {},
        "closed_channels": [],
        "attempts": 0,
        "voice_clips_sent": 0,
        "wants_voice": False,
        "created_at": now,
        "updated_at": now,
        **fields,
    }


def insert_outbox(session: Session, values: Sequence[dict[str, object]]) -> None:
    """Insert outbox rows, skipping keys already there: enqueuing is idempotent. One executemany per set of
    columns given (a multi-row VALUES statement is compiled afresh for every call, which cost more than the
    inserting itself for a notice to a whole street)."""
    if not values:
        return
    statement = dialect_insert(session)(OUTBOX).on_conflict_do_nothing(index_elements=["idempotency_key"])
    by_columns: dict[frozenset[str], list[dict[str, object]]] = {}
    for row in values:
        by_columns.setdefault(frozenset(row), []).append(row)
    for rows in by_columns.values():
        for start in range(0, len(rows), 1000):
            session.execute(statement, rows[start : start + 1000])


def _add_rows(session: Session, notice_id: int, recipients: Sequence[Recipient], now: datetime) -> None:
    insert_outbox(
        session,
        [
            outbox_values(
                notice_key(notice_id, r.member_id),
                "notice",
                now,
                openid=r.openid,
                member_id=r.member_id,
                notice_id=notice_id,
                wants_voice=r.voice,
            )
            for r in recipients
        ],
    )


async def notify_members(
    db: Database,
    now: datetime,
    *,
    key: str,
    text: str,
    member_ids: Sequence[int] = (),
    openids: Sequence[str] = (),
    audio: Sequence[tuple[bytes, float]] = (),
) -> int:
    """A system notice (a voice message waits, a binding was approved, ...) to some members and/or openids
    (people not on the roster, e.g. a 双报到 registrant), once per `key`: calling again with the same key
    adds nothing. `audio` (AMR clips, seconds) goes with the text to every recipient. Returns the notice
    id."""
    return await db.run(
        lambda session: add_system_notice(
            session, now, key=key, text=text, member_ids=member_ids, openids=openids, audio=audio
        )
    )


def add_system_notice(
    session: Session,
    now: datetime,
    *,
    key: str,
    text: str,
    member_ids: Sequence[int] = (),
    openids: Sequence[str] = (),
    audio: Sequence[tuple[bytes, float]] = (),
    subject_member_id: int | None = None,
    extend: bool = False,
    new_key: bool = False,
) -> int:
    """notify_members inside a transaction the caller already has (the change and its notice commit
    together). `subject_member_id`: the member the notice is about (bot.outbound.voice_messages).
    `extend`: when the key's notice exists, the members given who are not among its recipients yet get it
    too (a member who joined a branch after its theme day was announced); nobody gets it twice.
    `new_key`: the caller knows no notice can have the key yet (it names a row written in this
    transaction), so it is not looked up."""
    existing = (
        None
        if new_key
        else session.scalar(select(Notice.id).where(Notice.kind == "system", Notice.author == key))
    )
    if existing is not None:
        if extend and member_ids:
            extend_notice(session, int(existing), member_ids, bool(audio), now)
        return int(existing)
    rows = (
        session.execute(
            select(Member, Binding.openid)
            .outerjoin(Binding, Binding.member_id == Member.id)
            .where(Member.id.in_(list(member_ids)), Member.active.is_(True))
        ).all()
        if member_ids
        else []
    )
    recipients = [Recipient(m.id, m.name, openid, bool(audio) or voice_on(m, now.year)) for m, openid in rows]
    notice = Notice(
        kind="system",
        text=text,
        author=key,
        unit_path="",
        audience="all",
        audience_label="",
        recipients=len(recipients) + len(openids),
        mass_reports={},
        subject_member_id=subject_member_id,
        folded_keys=[],
        created_at=now,
    )
    session.add(notice)
    session.flush()
    for seq, (data, seconds) in enumerate(audio):
        session.add(NoticeClip(notice_id=notice.id, seq=seq, audio=data, seconds=seconds))
    _add_rows(session, notice.id, recipients, now)
    insert_outbox(
        session,
        [
            outbox_values(
                f"notice:{notice.id}:openid:{openid}", "notice", now, openid=openid, notice_id=notice.id
            )
            for openid in openids
        ],
    )
    return notice.id


def extend_notice(
    session: Session, notice_id: int, member_ids: Sequence[int], voice: bool, now: datetime
) -> None:
    have = set(
        session.scalars(
            select(OutboxRow.member_id).where(
                OutboxRow.notice_id == notice_id, OutboxRow.member_id.is_not(None)
            )
        )
    )
    todo = [m for m in member_ids if m not in have]
    if not todo:
        return
    rows = session.execute(
        select(Member, Binding.openid)
        .outerjoin(Binding, Binding.member_id == Member.id)
        .where(Member.id.in_(todo), Member.active.is_(True))
    ).all()
    recipients = [Recipient(m.id, m.name, openid, voice or voice_on(m, now.year)) for m, openid in rows]
    _add_rows(session, notice_id, recipients, now)
    notice = session.get(Notice, notice_id)
    if notice is not None:
        notice.recipients += len(recipients)


def secretaries_of_unit(session: Session, unit_id: int | None, exclude: int | None = None) -> list[int]:
    """The secretaries (书记, 副书记) of the nearest unit at or above `unit_id` that has one."""
    unit = session.get(OrgUnit, unit_id) if unit_id is not None else None
    while unit is not None:
        found = session.scalars(
            select(Member.id).where(
                Member.unit_id == unit.id,
                Member.post.in_(("书记", "副书记")),
                Member.active.is_(True),
                Member.id != (exclude or -1),
            )
        ).all()
        if found:
            return list(found)
        unit = session.get(OrgUnit, unit.parent_id) if unit.parent_id is not None else None
    return []


# --- helpers who relay ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Helper:
    member_id: int
    name: str
    openid: str


def find_helper(session: Session, member: Member) -> Helper | None:
    """Who passes a notice on to a member WeChat cannot reach: their own helper (帮扶人), else their group
    leader (组长), else a secretary of the nearest unit above them — whoever is bound to WeChat."""
    candidates: list[int] = []
    if member.helper_id is not None:
        candidates.append(member.helper_id)
    unit = session.get(OrgUnit, member.unit_id)
    while unit is not None:
        posts = ("组长",) if unit.kind == "楼栋党小组" else ("书记", "副书记")
        found = session.scalars(
            select(Member.id)
            .where(Member.unit_id == unit.id, Member.post.in_(posts), Member.active.is_(True))
            .order_by(Member.post, Member.id)
        ).all()
        candidates.extend(found)
        unit = session.get(OrgUnit, unit.parent_id) if unit.parent_id is not None else None
    for candidate in candidates:
        if candidate == member.id:
            continue
        row = session.execute(
            select(Member.name, Binding.openid)
            .join(Binding, Binding.member_id == Member.id)
            .where(Member.id == candidate, Member.active.is_(True))
        ).first()
        if row is not None:
            return Helper(candidate, row[0], row[1])
    return None


def relay(session: Session, row_id: int, text: Callable[..., str], now: datetime) -> OutboxStatus:
    """Ask the member's helper to pass a notice on: a `relay` row to the helper; the notice row becomes
    `relayed` (or `failed` when nobody bound to WeChat can relay)."""
    row = session.get(OutboxRow, row_id)
    if row is None or row.member_id is None or row.notice_id is None:
        return OutboxStatus.FAILED
    member = session.get(Member, row.member_id)
    notice = session.get(Notice, row.notice_id)
    helper = find_helper(session, member) if member is not None else None
    row.lease_owner = row.lease_until = None
    row.updated_at = now
    if member is None or notice is None or helper is None:
        row.status, row.channel = OutboxStatus.FAILED.value, Channel.RELAY.value
        row.last_error = "no_helper: not bound to WeChat, and no helper, group leader or secretary is"
        return OutboxStatus.FAILED
    body = notice_body(notice.text)
    request = text("relay_request", name=member.name, text=body)
    insert_outbox(
        session,
        [
            outbox_values(
                f"relay:{row_id}",
                "relay",
                now,
                openid=helper.openid,
                member_id=helper.member_id,
                notice_id=row.notice_id,
                payload={"text": request, "for_row": row_id},
            )
        ],
    )
    row.status, row.channel, row.relay_member_id = (
        OutboxStatus.RELAYED.value,
        Channel.RELAY.value,
        helper.member_id,
    )
    row.last_error = None
    # The later parts of a long notice still waiting for the member go with the helper's relay too.
    session.execute(
        update(OutboxRow)
        .where(
            OutboxRow.kind == "text",
            OutboxRow.idempotency_key.like(f"part:{row_id}:%"),
            OutboxRow.status.in_((OutboxStatus.WAITING_NEXT_REPLY.value, OutboxStatus.QUEUED.value)),
        )
        .values(status=OutboxStatus.RELAYED.value, channel=Channel.RELAY.value, updated_at=now)
    )
    return OutboxStatus.RELAYED


def secretaries_for(session: Session, member_id: int) -> list[int]:
    """The secretaries (书记, 副书记) of the nearest unit above a member that has one."""
    member = session.get(Member, member_id)
    return secretaries_of_unit(session, member.unit_id if member else None, exclude=member_id)


async def confirm_relay(db: Database, helper_member_id: int, name: str, now: datetime) -> int:
    """`已转告 王秀兰`: the helper says they passed the notices on. Returns how many were confirmed."""

    def write(session: Session) -> int:
        ids = session.scalars(
            select(OutboxRow.id)
            .join(Member, Member.id == OutboxRow.member_id)
            .where(
                OutboxRow.relay_member_id == helper_member_id,
                OutboxRow.status == OutboxStatus.RELAYED.value,
                OutboxRow.relay_confirmed_at.is_(None),
                Member.name == name,
            )
        ).all()
        if ids:
            session.execute(
                update(OutboxRow).where(OutboxRow.id.in_(ids)).values(relay_confirmed_at=now, updated_at=now)
            )
        return len(ids)

    return await db.run(write)


# --- what became of a notice -----------------------------------------------------------------------


@dataclass(slots=True)
class NoticeReport:
    notice: Notice
    by_channel: Counter[str] = field(default_factory=Counter)
    waiting: int = 0
    relayed: list[tuple[str, str, bool]] = field(default_factory=list)  # (member, helper, confirmed)
    failed: Counter[str] = field(default_factory=Counter)  # failure_reason -> count
    in_doubt: int = 0
    pending: int = 0  # queued or being sent

    @property
    def sent(self) -> int:
        return sum(self.by_channel.values())


async def report(db: Database, notice_id: int) -> NoticeReport | None:
    helper = aliased(Member)
    async with db.read() as session:
        notice = await session.get(Notice, notice_id)
        if notice is None:
            return None
        rows = (
            await session.execute(
                select(
                    OutboxRow.status,
                    OutboxRow.channel,
                    OutboxRow.last_error,
                    OutboxRow.relay_confirmed_at,
                    Member.name,
                    helper.name,
                )
                .outerjoin(Member, Member.id == OutboxRow.member_id)
                .outerjoin(helper, helper.id == OutboxRow.relay_member_id)
                .where(OutboxRow.notice_id == notice_id, OutboxRow.kind == "notice")
                .order_by(OutboxRow.id)
            )
        ).all()
    result = NoticeReport(notice)
    for status, channel, error, confirmed, name, helper_name in rows:
        if status == OutboxStatus.SENT.value:
            result.by_channel[channel or ""] += 1
        elif status == OutboxStatus.WAITING_NEXT_REPLY.value:
            result.waiting += 1
        elif status == OutboxStatus.RELAYED.value:
            result.relayed.append((name or "", helper_name or "", confirmed is not None))
        elif status == OutboxStatus.FAILED.value:
            result.failed[failure_reason(error)] += 1
        elif status == OutboxStatus.IN_DOUBT.value:
            result.in_doubt += 1
        else:
            result.pending += 1
    return result


# --- WeChat's reports: TEMPLATESENDJOBFINISH and MASSSENDJOBFINISH --------------------------------------


async def template_finished(db: Database, msgid: str, status: str, now: datetime) -> int:
    """A template message's final status: `success`, `failed:user block`, `failed: system failed`. A
    refused one becomes failed (blocked by the user) or goes back to the queue to fall through. One that
    arrives before the send was written is kept for the worker (`apply_early_reports`)."""
    if status == "success":
        return 0

    def write(session: Session) -> int:
        _report_lock(session, [msgid])
        changed = _template_failed(session, msgid, status, now)
        if changed == 0:
            _keep_early(session, msgid, "template", status, {}, now)
        return changed

    return await db.run(write)


async def mass_finished(db: Database, msgid: str, counts: dict[str, int], now: datetime) -> int:
    """A mass send's job report (counts only: WeChat does not say who was filtered): kept on the notice,
    or, when it arrives before the send was written, for the worker (`apply_early_reports`)."""

    def write(session: Session) -> int:
        _report_lock(session, [msgid])
        changed = _mass_report(session, msgid, counts, now)
        if changed == 0:
            _keep_early(session, msgid, "mass", "", counts, now)
        return changed

    return await db.run(write)


def apply_early_reports(session: Session, msgids: Sequence[str], now: datetime) -> int:
    """Reports that came before the worker wrote these msgids (same transaction as that write)."""
    if not msgids:
        return 0
    _report_lock(session, msgids)
    early = session.scalars(select(EarlyJobReport).where(EarlyJobReport.msgid.in_(list(msgids)))).all()
    for report in early:
        if report.event == "mass":
            _mass_report(session, report.msgid, dict(report.counts), report.received_at)
        else:
            _template_failed(session, report.msgid, report.status, now)
        session.delete(report)
    return len(early)


def _report_lock(session: Session, msgids: Sequence[str]) -> None:
    """Serialise a report and the write of its send (PostgreSQL; SQLite's one writer does already): whichever
    comes second sees what the first committed, so a report is either applied or kept, never lost between
    the two. Transaction-scoped advisory locks, a wave's in one statement (msgids are unique to a send, so
    two transactions share at most the one a report locks: no order is needed)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    wanted = sorted({"wechat-report:" + m for m in msgids})
    key = func.unnest(cast(wanted, ARRAY(Text))).column_valued("key")
    session.execute(select(func.pg_advisory_xact_lock(func.hashtext(key))))


def _keep_early(
    session: Session, msgid: str, event: str, status: str, counts: dict[str, int], now: datetime
) -> None:
    session.execute(
        dialect_insert(session)(EarlyJobReport)
        .values(msgid=msgid, event=event, status=status, counts=counts, received_at=now)
        .on_conflict_do_nothing(index_elements=["msgid"])
    )


def _template_failed(session: Session, msgid: str, status: str, now: datetime) -> int:
    blocked = "block" in status
    rows = session.scalars(
        select(OutboxRow).where(
            OutboxRow.wechat_msgid == msgid,
            OutboxRow.channel == Channel.TEMPLATE.value,
            OutboxRow.status == OutboxStatus.SENT.value,
        )
    ).all()
    for row in rows:
        row.closed_channels = sorted({*row.closed_channels, Channel.TEMPLATE.value})
        row.last_error = f"template failed: {status}"
        row.updated_at = now
        if blocked:
            row.status = OutboxStatus.FAILED.value
            row.last_error = f"template_blocked: {status}"
        else:
            row.status, row.channel, row.next_attempt_at = OutboxStatus.QUEUED.value, None, now
    return len(rows)


def _mass_report(session: Session, msgid: str, counts: dict[str, int], at: datetime) -> int:
    notice_ids = session.scalars(
        select(OutboxRow.notice_id)
        .where(OutboxRow.wechat_msgid == msgid, OutboxRow.channel == Channel.MASS_SEND.value)
        .distinct()
    ).all()
    for notice_id in notice_ids:
        notice = session.get(Notice, notice_id)
        if notice is not None:
            notice.mass_reports = {**notice.mass_reports, msgid: {**counts, "at": at.isoformat()}}
    return len(notice_ids)
