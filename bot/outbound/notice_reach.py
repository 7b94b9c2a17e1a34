"""How a subtree's announcements reached their recipients, per month (the console's dashboard): by channel
(the same buckets as 公告状态, bot.outbound.notices.report: sent by customer service / template / mass
send, relayed by a helper, waiting for the member's next reply, failed, still pending), and the elderly
(voice-mode) recipients reached within 24 hours of the notice.

A notice belongs to the month it was written in (local time) and to the unit it was addressed to; system
notices are not announcements and are left out. An outbox row's bucket is `bucket` — the one rule both
this and `report` classify by."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from bot.domain.dues import add_months
from models import Notice, OutboxRow, OutboxStatus

WITHIN = timedelta(hours=24)

# The buckets a recipient's row falls in, in the order the dashboard lists them.
BUCKETS = ("customer_service", "template", "mass_send", "relay", "next_reply", "failed", "pending")
REACHED = frozenset({"customer_service", "template", "subscription", "mass_send", "relay"})


def bucket(status: str, channel: str | None) -> str:
    """Where one recipient's row stands: the channel that reached them, `relay` (a helper passes it on),
    `next_reply` (waits for their next message), `failed`, else `pending` (queued, being sent, in doubt)."""
    if status == OutboxStatus.SENT.value:
        return channel or "customer_service"
    if status == OutboxStatus.RELAYED.value:
        return "relay"
    if status == OutboxStatus.WAITING_NEXT_REPLY.value:
        return "next_reply"
    if status == OutboxStatus.FAILED.value:
        return "failed"
    return "pending"


@dataclass(slots=True)
class Reach:
    month: str
    notices: int = 0
    recipients: int = 0
    by_bucket: Counter[str] = field(default_factory=Counter)
    elderly: int = 0  # voice-mode recipients
    elderly_in_24h: int = 0  # of them, reached within 24 h of the notice

    @property
    def reached(self) -> int:
        return sum(n for b, n in self.by_bucket.items() if b in REACHED)

    @property
    def reached_rate(self) -> float | None:
        return self.reached / self.recipients if self.recipients else None

    @property
    def elderly_rate(self) -> float | None:
        return self.elderly_in_24h / self.elderly if self.elderly else None


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _month_start(month: str, zone: ZoneInfo) -> datetime:
    """The first instant of a local month, in UTC."""
    return datetime(int(month[:4]), int(month[5:7]), 1, tzinfo=zone).astimezone(UTC)


def reach(session: Session, scope_path: str, month: str, timezone: str) -> Reach:
    """The month's announcements to `scope_path`'s subtree ("" everything) and how they reached people."""
    return reach_by_month(session, scope_path, [month], timezone)[month]


@dataclass(frozen=True, slots=True)
class NoticeCounts:
    """One notice's recipients: how many, by bucket, the elderly among them and those reached in 24 h."""

    recipients: int = 0
    by_bucket: tuple[tuple[str, int], ...] = ()
    elderly: int = 0
    elderly_in_24h: int = 0


Counts = Callable[[dict[int, datetime]], dict[int, NoticeCounts]]


def reach_by_month(
    session: Session, scope_path: str, months: Sequence[str], timezone: str, counts: Counts | None = None
) -> dict[str, Reach]:
    """`reach` for each of `months` (the trend): the notices in one query, their recipients in two grouped
    queries per 500 notices (`counts`: `notice_counts` through the caller's cache of settled notices)."""
    found = {month: Reach(month) for month in months}
    if not months:
        return found
    zone = ZoneInfo(timezone)
    first, after = _month_start(min(months), zone), _month_start(add_months(max(months), 1), zone)
    query = select(Notice.id, Notice.created_at).where(
        Notice.kind != "system", Notice.created_at >= first, Notice.created_at < after
    )
    if scope_path:
        query = query.where(
            or_(Notice.unit_path == scope_path, Notice.unit_path.startswith(scope_path + "/"))
        )
    month_of: dict[int, str] = {}
    created: dict[int, datetime] = {}
    for notice_id, at in session.execute(query):
        local = _utc(at).astimezone(zone)
        month = f"{local.year:04d}-{local.month:02d}"
        if month in found:
            month_of[int(notice_id)], created[int(notice_id)] = month, _utc(at)
            found[month].notices += 1
    per = counts(created) if counts is not None else notice_counts(session, created)
    for notice_id, c in per.items():
        item = found[month_of[notice_id]]
        item.recipients += c.recipients
        item.by_bucket.update(dict(c.by_bucket))
        item.elderly += c.elderly
        item.elderly_in_24h += c.elderly_in_24h
    return found


def notice_counts(session: Session, notices: dict[int, datetime]) -> dict[int, NoticeCounts]:
    """Each notice's NoticeCounts (every one of `notices`, notice id → when it was written), in two grouped
    queries per 500 notices."""
    recipients: Counter[int] = Counter()
    buckets: dict[int, Counter[str]] = {i: Counter() for i in notices}
    elderly: Counter[int] = Counter()
    in_time_n: Counter[int] = Counter()
    ids = list(notices)
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        for of, status, channel, voice, n in session.execute(
            select(
                OutboxRow.notice_id, OutboxRow.status, OutboxRow.channel, OutboxRow.wants_voice, func.count()
            )
            .where(OutboxRow.notice_id.in_(part), OutboxRow.kind == "notice")
            .group_by(OutboxRow.notice_id, OutboxRow.status, OutboxRow.channel, OutboxRow.wants_voice)
        ):
            notice_id = int(of or 0)
            recipients[notice_id] += int(n)
            buckets[notice_id][bucket(str(status), channel)] += int(n)
            if voice:
                elderly[notice_id] += int(n)
        # The elderly reached: when their row was sent (updated_at) or their helper confirmed the relay,
        # within 24 h of their notice — counted in the database (a notice's deadline as a CASE per id).
        kind = OutboxRow.updated_at.type
        deadline = case(
            *((OutboxRow.notice_id == i, literal(notices[i] + WITHIN, kind)) for i in part), else_=None
        )
        in_time = or_(
            and_(OutboxRow.status == OutboxStatus.SENT.value, OutboxRow.updated_at <= deadline),
            and_(OutboxRow.status == OutboxStatus.RELAYED.value, OutboxRow.relay_confirmed_at <= deadline),
        )
        for of, n in session.execute(
            select(OutboxRow.notice_id, func.count())
            .where(
                OutboxRow.notice_id.in_(part),
                OutboxRow.kind == "notice",
                OutboxRow.wants_voice.is_(True),
                in_time,
            )
            .group_by(OutboxRow.notice_id)
        ):
            in_time_n[int(of or 0)] += int(n)
    return {
        i: NoticeCounts(recipients[i], tuple(sorted(buckets[i].items())), elderly[i], in_time_n[i])
        for i in notices
    }
