"""党费 reminders as of a moment, through the outbound engine (system notices: elderly members get voice, the
unreached a helper). From 09:00 on the 5th, everyone who owes this month and has not paid hears once; from
09:00 on the 20th, once more (a job that ran late sends the latest due, not both). With the first reminder of
a month: three consecutive unpaid months → a gentle note to the member and a line to their secretary; six or
more → an alert to the secretary citing Party Constitution Art. 9 (the branch meeting decides: partybot never
changes anyone's status). In January, members whose base is older than this year are asked to confirm it.

Idempotent: every notice has a key per member (or unit), month and kind, and a unit's reminder only ever
adds the members it has not reached yet, so running the job again (after a restart, every 10 minutes) sends
nothing twice. Members are read in chunks, so memory stays flat whatever the roster's size.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time
from functools import partial
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.content import Content
from bot.domain import dues, dues_ledger
from bot.domain.dues import Basis
from bot.domain.identity import branch_of
from bot.domain.points import award
from bot.domain.theme_day import load_units
from bot.outbound.notices import secretaries_of_unit
from bot.outbound.system_notices import SystemNotice, add_system_notices, written_keys
from bot.settings import Settings
from models import DuesEntry, DuesEntryKind, Member, OrgUnit
from scheduler.jobs.base import JobDeps

# (day of the month, local time, kind): a reminder is due from its moment until the next one's.
MOMENTS: tuple[tuple[int, time, str], ...] = ((5, time(9, 0), "remind_5"), (20, time(9, 0), "remind_20"))
ESCALATE_AFTER = 3
ALERT_AFTER = 6


def due_kind(now: datetime, timezone: str) -> str | None:
    """The reminder due as of `now` (the latest whose moment has passed this month); None before the 5th."""
    local = now.astimezone(ZoneInfo(timezone))
    found = None
    for day, at, kind in MOMENTS:
        if (local.day, local.time()) >= (day, at):
            found = kind
    return found


async def dues_reminders(deps: JobDeps, now: datetime) -> str:
    settings = deps.settings
    kind = due_kind(now, settings.timezone)
    if kind is None:
        return "nothing due before the 5th at 09:00"
    month = dues.local_month(now, settings.timezone)
    start = await deps.db.run(partial(_start, start=settings.dues_start_month, timezone=settings.timezone))
    if month < start:
        return f"dues start in {start}"
    totals = {"reminded": 0, "notes": 0, "alerts": 0, "base": 0}
    last = 0
    branch = await deps.db.run(_branches)
    found: dict[int, list[int]] = {}  # unit → its secretaries, for the whole run
    while True:
        done, last = await deps.db.run(
            partial(
                _chunk,
                after=last,
                month=month,
                kind=kind,
                start=start,
                now=now,
                deps=deps,
                branch=branch,
                found=found,
            )
        )
        if not done:
            break
        for key, value in done.items():
            totals[key] += value
    return (
        f"{kind} {month}: {totals['reminded']} unpaid (each reminded once), new notes {totals['notes']}, "
        f"alerts {totals['alerts']}, base confirmations {totals['base']}"
    )


def _start(session: Session, *, start: str | None, timezone: str) -> str:
    return dues.start_month(session, start, timezone)


def _branches(session: Session) -> Callable[[int], int]:
    """unit id → the id of its branch (the nearest 网格党支部 at or above it; else the unit)."""
    units = load_units(session)
    by_path = {unit.path: unit_id for unit_id, unit in units.items()}
    cache: dict[int, int] = {}

    def of(unit_id: int) -> int:
        if unit_id not in cache:
            cache[unit_id] = by_path.get(branch_of(units, unit_id) or "", unit_id)
        return cache[unit_id]

    return of


def _unit_names(session: Session, unit_ids: set[int]) -> dict[int, str]:
    return {
        int(i): str(n)
        for i, n in session.execute(select(OrgUnit.id, OrgUnit.name).where(OrgUnit.id.in_(unit_ids)))
    }


def _chunk(
    session: Session,
    *,
    after: int,
    month: str,
    kind: str,
    start: str,
    now: datetime,
    deps: JobDeps,
    branch: Callable[[int], int],
    found: dict[int, list[int]],
) -> tuple[dict[str, int], int]:
    """One chunk of members (by id, after `after`): returns what was written and the last id read."""
    settings, content = deps.settings, deps.content
    rows = session.execute(
        select(Member.id, Member.name, Member.unit_id)
        .where(Member.active.is_(True), Member.id > after)
        .order_by(Member.id)
        .limit(dues.CHUNK)
    ).all()
    if not rows:
        return {}, after
    ids = [int(r[0]) for r in rows]
    facts = dues.load_facts(session, ids, start)
    paid = dues.paid_months(session, ids, dues.add_months(month, -ALERT_AFTER - 1), month)
    _use_credit(session, ids, facts, paid, month, start, now, settings)
    first_of_month = kind == MOMENTS[0][2]
    unpaid_by_unit: dict[int, list[int]] = {}  # by branch: one reminder notice per branch and month
    behind: list[tuple[int, str, int, int]] = []  # member, name, unit, months
    asked: list[int] = []
    for member_id, name, unit_id in rows:
        f = facts[int(member_id)]
        due = dues.due_for(f, month, settings.dues_rounding)
        if due is None:
            continue
        mine = paid.get(int(member_id), set())
        if due.amount_fen != 0 and month not in mine:
            unpaid_by_unit.setdefault(branch(int(unit_id)), []).append(int(member_id))
        run = dues.unpaid_run(f, mine, month, settings.dues_rounding)
        if run >= ESCALATE_AFTER:
            behind.append((int(member_id), str(name), int(unit_id), run))
        if month.endswith("-01") and due.basis in (Basis.EMPLOYED, Basis.RETIRED):
            asked.append(int(member_id))
    done = {"reminded": 0, "notes": 0, "alerts": 0, "base": 0}
    texts = _Texts(content, settings.dues_payment_channel, month)
    add_system_notices(
        session,
        now,
        [
            SystemNotice(f"dues:{unit_id}:{month}:{kind}", texts.remind(kind), member_ids)
            for unit_id, member_ids in unpaid_by_unit.items()
        ],
        extend=True,
    )
    done["reminded"] = sum(len(member_ids) for member_ids in unpaid_by_unit.values())
    if behind:
        written = written_keys(session, [f"dues:{m}:{month}:overdue" for m, _, _, _ in behind])
        names = _unit_names(session, {u for _, _, u, _ in behind})

        def secretaries(unit_id: int) -> list[int]:
            if unit_id not in found:
                found[unit_id] = secretaries_of_unit(session, unit_id)
            return found[unit_id]

        # No `subject_member_id` on these: bot.outbound.voice_messages folds its alerts into the latest
        # notice about a member that has reached nobody yet, and must not rewrite a dues alert.
        notes: list[SystemNotice] = []
        for member_id, name, unit_id, run in behind:
            if f"dues:{member_id}:{month}:overdue" in written:
                continue
            notes.append(
                SystemNotice(
                    f"dues:{member_id}:{month}:overdue",
                    content.text("dues_overdue_member", name=name, months=run),
                    [member_id],
                )
            )
            alert = run >= ALERT_AFTER
            notes.append(
                SystemNotice(
                    f"dues:{member_id}:{month}:{'alert' if alert else 'secretary'}",
                    content.text(
                        "dues_overdue_alert" if alert else "dues_overdue_secretary",
                        name=name,
                        unit=names.get(unit_id, ""),
                        months=run,
                    ),
                    [m for m in secretaries(unit_id) if m != member_id]
                    or secretaries_of_unit(session, unit_id, exclude=member_id),  # a secretary behind: above
                )
            )
            done["alerts" if alert else "notes"] += 1
        add_system_notices(session, now, notes)
    if asked and first_of_month:
        done["base"] = _ask_bases(session, asked, facts, month, now, content, settings.timezone)
    return done, ids[-1]


def _use_credit(
    session: Session,
    ids: list[int],
    facts: dict[int, dues.Facts],
    paid: dict[int, set[str]],
    month: str,
    start: str,
    now: datetime,
    settings: Settings,
) -> None:
    """Money kept as credit pays the months it covers once they are due (oldest first), before anyone is
    reminded of them."""
    credits = {
        int(m): int(total)
        for m, total in session.execute(
            select(DuesEntry.member_id, func.sum(DuesEntry.amount_fen))
            .where(DuesEntry.member_id.in_(ids), DuesEntry.kind == DuesEntryKind.CREDIT.value)
            .group_by(DuesEntry.member_id)
        ).all()
        if total
    }
    for member_id, credit in credits.items():
        due = dues.due_for(facts[member_id], month, settings.dues_rounding)
        if (
            due is None
            or not due.amount_fen
            or credit < due.amount_fen
            or month in paid.get(member_id, set())
        ):
            continue
        rec = dues_ledger.Recorder(
            by=None,
            now=now,
            source="credit",
            start=start,
            timezone=settings.timezone,
            rounding=settings.dues_rounding,
            award=award,
        )
        done = dues_ledger.pay_amount(session, member_id, 0, rec)
        paid.setdefault(member_id, set()).update(done.months)


def _ask_bases(
    session: Session,
    member_ids: list[int],
    facts: dict[int, dues.Facts],
    month: str,
    now: datetime,
    content: Content,
    timezone: str,
) -> int:
    """January: members whose base was declared before this year confirm it, once a year."""
    year = int(month[:4])
    zone_start = datetime(year, 1, 1, tzinfo=ZoneInfo(timezone))
    dates = dues_ledger.base_dates(session, member_ids)
    stale = [m for m in member_ids if dates.get(m) is None or dates[m] < zone_start]
    keys = {m: f"dues:base:{m}:{year}" for m in stale}
    written = written_keys(session, list(keys.values()))
    asks: list[SystemNotice] = []
    for member_id in stale:
        if keys[member_id] in written:
            continue
        base = facts[member_id].base_for(month)
        if base is None:
            continue
        asks.append(
            SystemNotice(
                keys[member_id],
                content.text(
                    "dues_base_confirm", year=year, base=f"{base / 100:.2f}".rstrip("0").rstrip(".")
                ),
                [member_id],
            )
        )
    add_system_notices(session, now, asks)
    return len(asks)


class _Texts:
    def __init__(self, content: Content, channel: str, month: str) -> None:
        self.content, self.month = content, month
        self.channel = content.text("dues_channel", channel=channel) if channel else ""

    def remind(self, kind: str) -> str:
        return self.content.text(
            f"dues_{kind}", month=f"{int(self.month[5:7])}月", month_code=self.month, channel=self.channel
        ).strip()
