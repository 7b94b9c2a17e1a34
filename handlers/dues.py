"""党费 in chat. A member: `党费` (menu 2: this month's amount and how it was worked out, the months paid this
year, arrears), `党费基数 8600`, `已交 2026-11`. A secretary, for members of their subtree: `收党费 姓名
2026-11` (or a range, or an amount), `党费基数 姓名 3100`, `党费待确认`, `党费确认 姓名`, `党费退回 姓名
原因`, `党费更正 姓名 月份`, `党费减免 姓名 月份 金额 批准文号`, `党费标准 农民 0.50`, and `党费情况`
(paged with 下一页). Passive replies are text: elderly members hear the reminders (notices carry voice)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain import audit, dues, dues_ledger, dues_outcomes
from bot.domain.dues import Basis, Due, month_label
from bot.domain.dues_ledger import Paid, Recorder, Refusal, Resolved
from bot.domain.importing.values import parse_amount_fen
from bot.domain.members import voice_on
from bot.domain.points import award
from bot.domain.policy import Action, may, scope
from bot.edge.context import Context
from bot.edge.replies import Reply, TextReply
from bot.edge.router import Intent, Regex, Role, Router, State
from bot.outbound.notices import add_system_notice, secretaries_of_unit
from bot.outbound.system_notices import speak_reply
from bot.wechat.wire import Incoming
from handlers.dues_pages import pack
from models import DuesClaim, Member, OrgUnit

REPORT_STATE = "dues_report"
PAGE_BYTES = 1800
_NUMBER = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def paging_router() -> Router:
    """`下一页` of 党费情况, while its conversation state is open (a stray 下一页 is answered last)."""
    r = Router("dues_paging")

    @r.message(State(REPORT_STATE), Intent("next_page"))
    async def report_next(msg: Incoming, ctx: Context) -> Reply | None:
        return await _report(ctx, page=int(ctx.conversation.data.get("page", 1)) + 1)

    return r


def router() -> Router:
    r = Router("dues")
    secretaries = Role("secretary", "admin")

    def refused(msg: Incoming, ctx: Context) -> Reply:
        return TextReply(ctx.text("staff_only_secretary"))

    def both(pattern: str, handler: Callable[[Incoming, Context], Any]) -> None:
        """A secretary's command, and the polite refusal for everyone else."""
        r.message(secretaries, Regex(pattern))(handler)

        async def refuse(msg: Incoming, ctx: Context) -> Reply | None:
            return refused(msg, ctx)

        r.message(Regex(pattern))(refuse)

    async def pay(msg: Incoming, ctx: Context) -> Reply | None:
        return await _pay(ctx, ctx.match["regex"].group(1).split())

    async def pending(msg: Incoming, ctx: Context) -> Reply | None:
        return await _pending(ctx)

    async def confirm(msg: Incoming, ctx: Context) -> Reply | None:
        return await _confirm(ctx, ctx.match["regex"].group(1).split())

    async def return_(msg: Incoming, ctx: Context) -> Reply | None:
        return await _return(ctx, ctx.match["regex"].group(1).split())

    async def reverse(msg: Incoming, ctx: Context) -> Reply | None:
        return await _reverse(ctx, ctx.match["regex"].group(1).split())

    async def adjust(msg: Incoming, ctx: Context) -> Reply | None:
        return await _adjust(ctx, ctx.match["regex"].group(1).split())

    async def rate(msg: Incoming, ctx: Context) -> Reply | None:
        return await _rate(ctx, ctx.match["regex"].group(1).split())

    async def report(msg: Incoming, ctx: Context) -> Reply | None:
        return await _report(ctx, page=1)

    both(r"收党费\s*(.*)", pay)
    both(r"党费待确认", pending)
    both(r"党费确认\s*(.*)", confirm)
    both(r"党费退回\s*(.*)", return_)
    both(r"党费更正\s*(.*)", reverse)
    both(r"党费减免\s*(.*)", adjust)
    both(r"党费标准\s*(.*)", rate)
    both(r"党费(?:情况|统计|收缴情况)", report)

    @r.message(secretaries, Regex(r"党费基数\s*([^\d\s.,，][^\s]*)\s*(\S*)\s+(\S+)"))
    async def base_of(msg: Incoming, ctx: Context) -> Reply | None:
        m = ctx.match["regex"]
        number = m.group(2).upper() if _NUMBER.fullmatch(m.group(2) or "") else None
        return await _base(ctx, m.group(3), name=m.group(1), number=number)

    @r.message(Regex(r"党费基数\s*(.*)"))
    async def own_base(msg: Incoming, ctx: Context) -> Reply | None:
        value = ctx.match["regex"].group(1).strip()
        if len(value.split()) > 1:  # 党费基数 王秀兰 3100 from someone who is not a secretary
            return refused(msg, ctx)
        return await _base(ctx, value)

    @r.message(Regex(r"已交(?:党费)?\s*(.*)"))
    async def claimed(msg: Incoming, ctx: Context) -> Reply | None:
        return await _claim(ctx, ctx.match["regex"].group(1).strip())

    @r.route(Intent("dues"))
    async def view(msg: Incoming, ctx: Context) -> Reply | None:
        return await _view(ctx)

    return r


# --- words -------------------------------------------------------------------------------------------


def yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:.2f}"


def _percent(rate: Decimal | None) -> str:
    return f"{(rate or Decimal(0)) * 100:.1f}".rstrip("0").rstrip(".") + "%"


def _months(ctx: Context, months: list[str], this_year: str | None = None) -> str:
    """`9月、10月` within the year shown, else `2025年12月`."""
    parts = []
    for m in months:
        if this_year is not None and m.startswith(this_year):
            parts.append(ctx.text("dues_month", month=int(m[5:7])))
        else:
            parts.append(ctx.text("dues_month_full", year=int(m[:4]), month=int(m[5:7])))
    return "、".join(parts) or ctx.text("dues_paid_none")


_span = dues_outcomes.span


def how(ctx: Context, due: Due, kind: str) -> str:
    amount = yuan(due.amount_fen or 0)
    if due.basis == Basis.EMPLOYED:
        return ctx.text("dues_how_employed", base=yuan(due.base_fen or 0), rate=_percent(due.rate))
    if due.basis == Basis.RETIRED:
        return ctx.text("dues_how_retired", base=yuan(due.base_fen or 0), rate=_percent(due.rate))
    if due.basis == Basis.FIXED:
        return ctx.text("dues_how_fixed", kind=kind, amount=amount)
    if due.basis == Basis.BRANCH:
        return ctx.text("dues_how_branch", kind=kind, amount=amount)
    if due.basis == Basis.ADJUSTED:
        return ctx.text("dues_how_adjusted", ref=due.approval_ref or "", amount=amount)
    return ctx.text("dues_how_no_base")


@dataclass(frozen=True, slots=True)
class _Setup:
    start: str | None
    timezone: str
    rounding: str

    def recorder(self, ctx: Context, session: Session, source: str = "chat") -> Recorder:
        return Recorder(
            by=ctx.identity.member_id,
            now=ctx.clock.now(),
            source=source,
            start=dues.start_month(session, self.start, self.timezone),
            timezone=self.timezone,
            rounding=self.rounding,
            award=award,
        )


def _setup(ctx: Context) -> _Setup:
    s = ctx.settings
    return _Setup(s.dues_start_month, s.timezone, s.dues_rounding)


# --- the member ----------------------------------------------------------------------------------------


async def _view(ctx: Context) -> Reply:
    identity = ctx.identity
    if not may(identity, Action.VIEW_OWN_DUES) or identity.member_id is None:
        return TextReply(ctx.text("dues_not_member", bind_hint=ctx.hint("bind")))
    member_id, now, setup = identity.member_id, ctx.clock.now(), _setup(ctx)

    def read(session: Session) -> tuple[dues.Standing, str, str, bool]:
        start = dues.start_month(session, setup.start, setup.timezone)
        found = dues.standing(
            session, member_id, now, start=start, timezone=setup.timezone, rounding=setup.rounding
        )
        member = session.get(Member, member_id)
        kind = str(member.kind or "") if member is not None else ""
        first = dues.load_facts(session, [member_id], start)[member_id].first_month
        return found, kind, first, member is not None and voice_on(member, now.year)

    async with ctx.db.read() as session:
        standing, kind, first, spoken = await session.run_sync(read)
    year = standing.month[:4]
    due = standing.due
    if due is None:
        amount, state, method = (
            "",
            ctx.text("dues_state_none"),
            ctx.text("dues_how_not_due", month=month_label(first)),
        )
    else:
        known = due.amount_fen is not None
        amount = ctx.text("dues_view_amount", yuan=yuan(due.amount_fen or 0)) if known else ""
        amount = amount or ctx.text("dues_view_amount_unknown")
        if due.amount_fen == 0:
            state = ctx.text("dues_state_waived")
        elif standing.paid_this_month:
            state = ctx.text("dues_state_paid")
        elif standing.month in standing.pending:
            state = ctx.text("dues_state_pending")
        else:
            state = ctx.text("dues_state_unpaid")
        method = how(ctx, due, kind)
    if not standing.arrears:
        arrears = ctx.text("dues_arrears_none")
    elif standing.arrears_unknown:
        arrears = ctx.text(
            "dues_arrears_unknown", months=_months(ctx, [d.month for d in standing.arrears], year)
        )
    else:
        arrears = ctx.text(
            "dues_arrears",
            months=_months(ctx, [d.month for d in standing.arrears], year),
            total=yuan(standing.arrears_fen),
        )
    pending = (
        ctx.text("dues_pending", months=_months(ctx, standing.pending, year)) if standing.pending else ""
    )
    credit = ctx.text("dues_credit", credit=yuan(standing.credit_fen)) if standing.credit_fen > 0 else ""
    text = ctx.text(
        "dues_view" if due is not None else "dues_view_none",
        name=ctx.identity.name or "",
        month=ctx.text("dues_month", month=int(standing.month[5:7])),
        amount=amount,
        state=state,
        how=method,
        paid=_months(ctx, standing.paid_this_year, year),
        arrears=arrears,
        pending=pending,
        credit=credit,
    )
    if (
        due is not None
        and not standing.paid_this_month
        and standing.month not in standing.pending
        and due.amount_fen
    ):
        text += ctx.text("dues_view_hint", month=standing.month)
    if spoken:
        # Voice mode (elderly members): the same answer read aloud, its clips right after this reply.
        day = now.astimezone(ZoneInfo(setup.timezone)).date().isoformat()
        digest = hashlib.sha1(text.encode()).hexdigest()[:12]
        key = f"spoken:dues:{member_id}:{day}:{digest}"
        if await ctx.db.run(
            partial(speak_reply, now=now, key=key, member_id=member_id, openid=ctx.openid, text=text)
        ):
            text += ctx.text("voice_follows")
    return TextReply(text)


def _parse_amount(text: str) -> int | None:
    try:
        return parse_amount_fen(text)
    except ValueError:
        return None


async def _base(ctx: Context, value: str, *, name: str | None = None, number: str | None = None) -> Reply:
    identity = ctx.identity
    if name is None and (not may(identity, Action.VIEW_OWN_DUES) or identity.member_id is None):
        return TextReply(ctx.text("dues_not_member", bind_hint=ctx.hint("bind")))
    if not value:
        return TextReply(ctx.text("dues_base_format"))
    fen = _parse_amount(value)
    if fen is None or fen == 0:
        return TextReply(ctx.text("dues_base_bad", value=value))
    now, setup = ctx.clock.now(), _setup(ctx)
    by = identity.member_id

    def write(session: Session) -> str:
        if name is not None:
            who = _resolve(session, ctx, name, number)
            if isinstance(who, str):
                return who.replace("{command}", "党费基数")
            member_id, shown = int(who.member_id or 0), who.name
        else:
            member_id, shown = int(identity.member_id or 0), ""
        source = "secretary" if name is not None else "member"
        month = dues_ledger.declare_base(
            session, member_id, fen, now, by=by, source=source, timezone=setup.timezone
        )
        if name is not None:
            return ctx.text("dues_base_set_by", name=shown, base=yuan(fen), month=month_label(month))
        start = dues.start_month(session, setup.start, setup.timezone)
        facts = dues.load_facts(session, [member_id], start)[member_id]
        due = dues.due_for(facts, month, setup.rounding)
        if due is not None and due.basis in (Basis.FIXED, Basis.BRANCH):
            return ctx.text("dues_base_fixed", kind=facts.kind)
        amount = yuan(due.amount_fen or 0) + "元" if due is not None else "—"
        return ctx.text("dues_base_set", base=yuan(fen), month=month_label(month), amount=amount)

    return TextReply(await ctx.db.run(write))


async def _claim(ctx: Context, value: str) -> Reply:
    identity = ctx.identity
    if not may(identity, Action.VIEW_OWN_DUES) or identity.member_id is None:
        return TextReply(ctx.text("dues_not_member", bind_hint=ctx.hint("bind")))
    member_id, now, setup = identity.member_id, ctx.clock.now(), _setup(ctx)
    months = dues.parse_months(value) if value else [dues.local_month(now, setup.timezone)]
    if not months:
        return TextReply(ctx.text("dues_claim_format"))

    def write(session: Session) -> str:
        rec = setup.recorder(ctx, session)
        facts = dues.load_facts(session, [member_id], rec.start)[member_id]
        current = dues.local_month(now, setup.timezone)
        refused = dues_ledger.check_months(facts, months, current)
        if refused is not None:
            return _refusal(ctx, Paid(refusal=refused[0], month=refused[1]), identity.name or "", facts)
        paid = dues.paid_months(session, [member_id], months[0], months[-1]).get(member_id, set())
        if all(m in paid for m in months):
            return ctx.text("dues_claim_all_paid", months=_span(months))
        dues_ledger.claim(session, member_id, facts.unit_id, months, now)
        secretaries = secretaries_of_unit(session, facts.unit_id, exclude=member_id)
        if secretaries:
            add_system_notice(
                session,
                now,
                key=f"dues:claim:{member_id}:{months[0]}:{months[-1]}:{now.isoformat()}",
                text=ctx.text("dues_claim_notice", name=identity.name or "", months=_span(months)),
                member_ids=secretaries,
            )
        return ctx.text("dues_claimed", months=_span(months))

    return TextReply(await ctx.db.run(write))


# --- the secretary ---------------------------------------------------------------------------------------


def _scope(ctx: Context) -> str | None:
    return scope(ctx.identity, Action.RECORD_DUES)


def _resolve(session: Session, ctx: Context, name: str, number: str | None) -> Resolved | str:
    """The member, or the answer saying why not (`{command}` left for the caller to fill in)."""
    found = dues_ledger.resolve_member(session, _scope(ctx) or "\0", name, number)
    if found.member_id is not None:
        return found
    if found.many:
        return ctx.text(
            "dues_many",
            count=len(found.many),
            name=name,
            numbers="、".join(found.many),
            command="{command}",
            example=found.many[0],
        )
    return ctx.text("dues_outside" if found.outside else "dues_not_found", name=name)


def _who(args: list[str]) -> tuple[str, str | None, list[str]]:
    """`王秀兰 [YX-004] rest…` → name, number, rest."""
    name, rest = args[0], args[1:]
    if rest and _NUMBER.fullmatch(rest[0]):
        return name, rest[0].upper(), rest[1:]  # the text arrives lower-cased
    return name, None, rest


def _refusal(ctx: Context, paid: Paid, name: str, facts: dues.Facts | None = None) -> str:
    last = dues.add_months(dues.local_month(ctx.clock.now(), ctx.settings.timezone), dues.AHEAD)
    first = facts.first_month if facts is not None else None
    return dues_outcomes.refusal(ctx.text, paid, name, first=first, last=last)


def _paid_text(ctx: Context, name: str, paid: Paid) -> str:
    return dues_outcomes.recorded(ctx.text, name, paid)


async def _pay(ctx: Context, args: list[str]) -> Reply:
    if len(args) < 2:
        return TextReply(ctx.text("dues_pay_format"))
    name, number, rest = _who(args)
    what = "".join(rest)
    months = dues.parse_months(what) if what else None
    amount = None if months or not what or "-" in what or "至" in what else _parse_amount(what)
    if months is None and amount is None:
        looks_like_month = bool(re.search(r"\d{4}\s*[-./年]", what))
        key = "dues_bad_month" if looks_like_month else "dues_bad_amount"
        return TextReply(ctx.text(key, value=what or "—"))
    setup = _setup(ctx)

    def write(session: Session) -> str:
        who = _resolve(session, ctx, name, number)
        if isinstance(who, str):
            return who.replace("{command}", "收党费")
        member_id = int(who.member_id or 0)
        rec = setup.recorder(ctx, session)
        if months is not None:
            paid = dues_ledger.pay_months(session, member_id, months, rec)
        else:
            paid = dues_ledger.pay_amount(session, member_id, int(amount or 0), rec)
        if paid.refusal is not None:
            return _refusal(ctx, paid, name, dues.load_facts(session, [member_id], rec.start)[member_id])
        if not paid.months:
            return dues_outcomes.amount_only(ctx.text, name, int(amount or 0), paid)
        _tell_member(session, ctx, member_id, name, paid)
        return _paid_text(ctx, name, paid)

    return TextReply(await ctx.db.run(write))


def _tell_member(session: Session, ctx: Context, member_id: int, name: str, paid: Paid) -> None:
    if member_id == ctx.identity.member_id:
        return
    add_system_notice(
        session,
        ctx.clock.now(),
        key=f"dues:paid:{member_id}:{paid.months[0]}:{paid.months[-1]}:{ctx.clock.now().isoformat()}",
        text=ctx.text(
            "dues_member_paid_notice", name=name, months=_span(paid.months), total=yuan(paid.total_fen)
        ),
        member_ids=[member_id],
    )


async def _pending(ctx: Context) -> Reply:
    path, setup = _scope(ctx) or "\0", _setup(ctx)

    def read(session: Session) -> str:
        from bot.domain.binding import in_scope

        rows = session.execute(
            select(DuesClaim, Member.name)
            .join(Member, Member.id == DuesClaim.member_id)
            .join(OrgUnit, OrgUnit.id == DuesClaim.unit_id)
            .where(DuesClaim.status == "pending", in_scope(path))
            .order_by(DuesClaim.id)
        ).all()
        if not rows:
            return ctx.text("dues_pending_none")
        start = dues.start_month(session, setup.start, setup.timezone)
        facts = dues.load_facts(session, sorted({c.member_id for c, _ in rows}), start)
        lines = []
        for n, (c, name) in enumerate(rows, 1):
            months = dues.months_between(c.first_month, c.last_month)
            total = sum(
                (d.amount_fen or 0) for m in months if (d := dues.due_for(facts[c.member_id], m)) is not None
            )
            lines.append(
                ctx.text("dues_pending_line", n=n, name=name, months=_span(months), amount=yuan(total))
            )
        return ctx.text("dues_pending_list", count=len(rows), lines="\n".join(lines))

    async with ctx.db.read() as session:
        return TextReply(await session.run_sync(read))


async def _confirm(ctx: Context, args: list[str]) -> Reply:
    if not args:
        return TextReply(ctx.text("dues_confirm_format"))
    name, number, _ = _who(args)
    setup = _setup(ctx)

    def write(session: Session) -> str:
        who = _resolve(session, ctx, name, number)
        if isinstance(who, str):
            return who.replace("{command}", "党费确认")
        member_id = int(who.member_id or 0)
        rec = setup.recorder(ctx, session, source="claim")
        months, paid = dues_ledger.confirm_claims(session, member_id, rec)
        if paid is None:
            return ctx.text("dues_confirm_none", name=name)
        if paid.refusal is not None and paid.refusal != Refusal.ALL_PAID:
            return _refusal(ctx, paid, name, dues.load_facts(session, [member_id], rec.start)[member_id])
        if paid.months:
            _tell_member(session, ctx, member_id, name, paid)
        return ctx.text("dues_confirmed", name=name, months=_span(months), total=yuan(paid.total_fen))

    return TextReply(await ctx.db.run(write))


async def _return(ctx: Context, args: list[str]) -> Reply:
    if len(args) < 2:
        return TextReply(ctx.text("dues_return_format"))
    name, number, rest = _who(args)
    reason = " ".join(rest) or "—"
    now, by = ctx.clock.now(), ctx.identity.member_id

    def write(session: Session) -> str:
        who = _resolve(session, ctx, name, number)
        if isinstance(who, str):
            return who.replace("{command}", "党费退回")
        member_id = int(who.member_id or 0)
        months = dues_ledger.return_claims(session, member_id, reason, by=by, now=now)
        if not months:
            return ctx.text("dues_confirm_none", name=name)
        add_system_notice(
            session,
            now,
            key=f"dues:returned:{member_id}:{now.isoformat()}",
            text=ctx.text("dues_returned_notice", name=name, months=_span(months), reason=reason),
            member_ids=[member_id],
        )
        return ctx.text("dues_returned", name=name, months=_span(months))

    return TextReply(await ctx.db.run(write))


async def _reverse(ctx: Context, args: list[str]) -> Reply:
    if len(args) < 2:
        return TextReply(ctx.text("dues_reverse_format"))
    name, number, rest = _who(args)
    months = dues.parse_months("".join(rest))
    if not months or len(months) != 1:
        return TextReply(ctx.text("dues_bad_month", value="".join(rest) or "—"))
    setup = _setup(ctx)

    def write(session: Session) -> str:
        who = _resolve(session, ctx, name, number)
        if isinstance(who, str):
            return who.replace("{command}", "党费更正")
        done = dues_ledger.reverse_month(
            session, int(who.member_id or 0), months[0], setup.recorder(ctx, session)
        )
        return ctx.text(
            "dues_reversed" if done else "dues_reverse_none", name=name, month=month_label(months[0])
        )

    return TextReply(await ctx.db.run(write))


async def _adjust(ctx: Context, args: list[str]) -> Reply:
    if len(args) < 4:
        return TextReply(ctx.text("dues_adjust_format"))
    name, number, rest = _who(args)
    if len(rest) < 3:
        return TextReply(ctx.text("dues_adjust_format"))
    months = dues.parse_months(rest[0])
    if not months:
        return TextReply(ctx.text("dues_bad_month", value=rest[0]))
    fen = 0 if rest[1] in ("免交", "免") else _parse_amount(rest[1])
    if fen is None:
        return TextReply(ctx.text("dues_bad_amount", value=rest[1]))
    ref = " ".join(rest[2:])
    now, by = ctx.clock.now(), ctx.identity.member_id

    def write(session: Session) -> str:
        who = _resolve(session, ctx, name, number)
        if isinstance(who, str):
            return who.replace("{command}", "党费减免")
        dues_ledger.add_adjustment(session, int(who.member_id or 0), months, fen, ref, by=by, now=now)
        return ctx.text("dues_adjusted", name=name, months=_span(months), amount=yuan(fen), ref=ref)

    return TextReply(await ctx.db.run(write))


async def _rate(ctx: Context, args: list[str]) -> Reply:
    if len(args) != 2:
        return TextReply(ctx.text("dues_rate_format"))
    kind, value = args
    now, setup = ctx.clock.now(), _setup(ctx)
    rng = dues_ledger.branch_range(kind, dues.local_month(now, setup.timezone))
    fen = _parse_amount(value)
    if rng is None or fen is None:
        return TextReply(ctx.text("dues_rate_format"))
    if not rng.min_fen <= fen <= rng.max_fen:
        return TextReply(ctx.text("dues_rate_bad", min=yuan(rng.min_fen), max=yuan(rng.max_fen)))
    path, by = ctx.identity.unit_path, ctx.identity.member_id

    def write(session: Session) -> str:
        unit_id = session.scalar(select(OrgUnit.id).where(OrgUnit.path == (path or "")))
        if unit_id is None:
            return ctx.text("dues_rate_format")
        month = dues_ledger.set_unit_rate(
            session, int(unit_id), kind, fen, now, by=by, timezone=setup.timezone
        )
        return ctx.text("dues_rate_set", amount=yuan(fen), month=month_label(month))

    return TextReply(await ctx.db.run(write))


async def _report(ctx: Context, page: int) -> Reply:
    path, now, setup = _scope(ctx), ctx.clock.now(), _setup(ctx)
    month = dues.local_month(now, setup.timezone)
    none = ctx.text("dues_paid_none")

    def read(session: Session) -> tuple[str, list[tuple[str, list[str]]]]:
        from bot.domain.binding import in_scope

        start = dues.start_month(session, setup.start, setup.timezone)
        found = dues.collection(session, path or "", month, start=start, rounding=setup.rounding)
        unit = session.scalar(select(OrgUnit.name).where(OrgUnit.path == path)) if path else None
        pending = len(
            set(
                session.scalars(
                    select(DuesClaim.member_id)
                    .join(OrgUnit, OrgUnit.id == DuesClaim.unit_id)
                    .where(DuesClaim.status == "pending", in_scope(path or ""))
                )
            )
        )
        behind = found.behind(3)
        head = ctx.text(
            "dues_report_head",
            rate=f"{found.rate:.0%}",
            due=len(found.due),
            paid=len(found.paid),
            paid_fen=yuan(found.paid_fen),
            due_fen=yuan(found.due_fen),
        )
        sections = [
            (head, []),
            (
                ctx.text("dues_report_unpaid", count=len(found.unpaid), names=""),
                [line.name for line in found.unpaid] or [none],
            ),
            (
                ctx.text("dues_report_behind", count=len(behind), names=""),
                [ctx.text("dues_report_behind_item", name=b.name, months=b.run) for b in behind] or [none],
            ),
        ]
        if pending:
            sections.append((ctx.text("dues_report_pending", count=pending), []))
        # Who has not paid is personal data a secretary reads: in the audit log, as 成员 lists are.
        who = audit.actor_for(openid=ctx.openid, member_number=ctx.identity.member_number)
        audit.record(session, now, who, "dues_report", path or "", month=month, page=page)
        return str(unit or ""), sections

    unit, sections = await ctx.db.run(read)
    pages = pack(sections, PAGE_BYTES)
    page = min(page, len(pages))
    text = ctx.text(
        "dues_report_page",
        unit=unit,
        month=month_label(month),
        page=page,
        pages=len(pages),
        lines=pages[page - 1],
    )
    if page < len(pages):
        ctx.enter(REPORT_STATE, page=page)
        text += "\n" + ctx.text("dues_report_more")
    else:
        ctx.conversation.clear()
    return TextReply(text)
