"""党费 in the console (Action.RECORD_DUES: a secretary their subtree, an administrator everything): a month
of a unit — the collection rate (bot.domain.dues.collection, as the dashboard and the chat's 党费情况), the
month's ledger (bot.domain.dues_report, the rows of `partybot dues report`, downloaded as its workbook and
audited the same way), who has not paid, who is 3+ months behind, the pending 已交 claims with 确认 / 退回 —
and recording a payment like the chat's `收党费 姓名 2026-11` (bot.domain.dues_ledger, the chat's words for
what it did or why not). A bank statement is imported like `partybot dues import`: uploaded, the dry-run's
row report, then confirmed (the file kept on the server in between: bot.console.import_pages)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from aiohttp_session import get_session
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.console import import_pages as uploads
from bot.console.deps import clock, content, services, settings, user
from bot.console.export import wants_xlsx, xlsx_download
from bot.console.pages import refuse, render
from bot.console.views import _int, _month, _months
from bot.domain import dues, dues_ledger, dues_outcomes, dues_report
from bot.domain.binding import in_scope
from bot.domain.dues_import import DuesImport, import_dues, report_lines
from bot.domain.dues_ledger import Paid, Recorder, Refusal
from bot.domain.importing import ImportFailed
from bot.domain.importing.values import parse_amount_fen
from bot.domain.places import path_key
from bot.domain.points import award
from bot.domain.policy import Action, scope, within
from bot.outbound.notices import add_system_notice
from bot.workbook import Sheet
from models import DuesClaim, Member, OrgUnit

PAGE_SIZE = 50
SLOT = "dues_upload"
RESULT = "dues_result"
DONE = "dues_import_done"
_NUMBER = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/dues", dues_page, name="dues")
    router.add_post("/dues/pay", pay, name="dues_pay")
    router.add_post("/dues/confirm", confirm, name="dues_confirm")
    router.add_post("/dues/return", return_claim, name="dues_return")
    router.add_get("/dues/import", import_page, name="dues_import")
    router.add_post("/dues/import/check", import_check, name="dues_import_check")
    router.add_post("/dues/import/confirm", import_confirm, name="dues_import_confirm")


_span = dues_outcomes.span
_yuan = dues_outcomes.yuan


def _here(unit: str, month: str) -> str:
    """The page of a unit and month (left out: the viewer's own scope, this month)."""
    query = {k: v for k, v in (("unit", unit), ("month", month)) if v}
    return "/console/dues" + ("?" + urlencode(query) if query else "")


@dataclass(frozen=True, slots=True)
class Claim:
    number: str
    name: str
    unit_name: str
    months: str
    amount: str
    at: str


@dataclass(slots=True)
class View:
    unit_path: str
    unit_name: str
    month: str
    collection: dues.Collection
    rows: list[dues_report.ReportRow]
    claims: list[Claim]
    below: list[tuple[str, str]]


def _read(session: Session, unit: str, month: str, s: Any) -> View | None:
    name = ""
    if unit:
        found = session.scalar(select(OrgUnit.name).where(OrgUnit.path == unit))
        if found is None:
            return None
        name = str(found)
    start = dues.start_month(session, s.dues_start_month, s.timezone)
    collection, rows = dues_report.month_rows(session, unit, month, start=start, rounding=s.dues_rounding)
    pending = session.execute(
        select(DuesClaim, Member.name, Member.number, OrgUnit.name)
        .join(Member, Member.id == DuesClaim.member_id)
        .join(OrgUnit, OrgUnit.id == DuesClaim.unit_id)
        .where(DuesClaim.status == "pending", in_scope(unit))
        .order_by(DuesClaim.id)
    ).all()
    facts = dues.load_facts(session, sorted({c.member_id for c, *_ in pending}), start)
    claims = []
    for c, member_name, number, unit_name in pending:
        months = dues.months_between(c.first_month, c.last_month)
        total = sum(
            (d.amount_fen or 0) for m in months if (d := dues.due_for(facts[c.member_id], m)) is not None
        )
        claims.append(
            Claim(
                str(number),
                str(member_name),
                str(unit_name),
                _span(months),
                _yuan(total),
                f"{c.created_at:%Y-%m-%d}",
            )
        )
    parent = session.scalar(select(OrgUnit.id).where(OrgUnit.path == unit)) if unit else None
    below = [
        (str(p), str(n))
        for p, n in session.execute(
            select(OrgUnit.path, OrgUnit.name).where(
                OrgUnit.active.is_(True),
                OrgUnit.parent_id.is_(None) if parent is None else OrgUnit.parent_id == parent,
            )
        )
    ]
    below.sort(key=lambda u: path_key(u[0]))
    return View(unit, name, month, collection, rows, claims, below)


async def _where(request: web.Request) -> tuple[str, str] | web.Response:
    """The unit and month asked for, inside the viewer's scope (else the refusal to send)."""
    where = scope(user(request).identity, Action.RECORD_DUES)
    if where is None:
        return await refuse(request, 403, "console_forbidden")
    month = _month(request)
    unit = request.query.get("unit", where).strip().strip("/")
    if month is None or not within(unit, where):
        return await refuse(request, 404, "console_not_found")
    return unit, month


async def dues_page(request: web.Request) -> web.StreamResponse:
    found = await _where(request)
    if isinstance(found, web.Response):
        return found
    unit, month = found
    s = settings(request)
    async with services(request).db.read() as session:
        view = await session.run_sync(lambda db: _read(db, unit, month, s))
    if view is None:
        return await refuse(request, 404, "console_not_found")
    say = content(request).text
    if wants_xlsx(request):
        header = dues_report.header(content(request).texts, say)
        sheet = Sheet(say("dues_cli_sheet"), header, [dues_report.cells(r, say) for r in view.rows])
        return await xlsx_download(
            request,
            filename=say(
                "console_dues_filename", unit=view.unit_name or say("console_everything"), month=month
            ),
            sheet=sheet,
            action="export_dues_report",
            scope=unit or None,
            month=month,
            members=len(view.rows),
            format="xlsx",
        )
    page_no = _int(request.query.get("page"))
    pages = max(1, (len(view.rows) + PAGE_SIZE - 1) // PAGE_SIZE)
    page_no = min(page_no, pages)
    shown = view.rows[(page_no - 1) * PAGE_SIZE : page_no * PAGE_SIZE]
    result = (await get_session(request)).pop(RESULT, None)
    return await render(
        request,
        "dues_page.html",
        view=view,
        month=month,
        months=_months(month),
        header=dues_report.header(content(request).texts, say),
        rows=[(r, dues_report.cells(r, say)) for r in shown],
        page_no=page_no,
        pages=pages,
        result=result if isinstance(result, dict) else None,
        here_query=urlencode({"unit": unit, "month": month}),
    )


# --- recording a payment, confirming or returning a claim (the chat's domain calls and words) --------------


def _recorder(request: web.Request, session: Session, source: str) -> Recorder:
    s = settings(request)
    return Recorder(
        by=user(request).identity.member_id,
        now=clock(request).now(),
        source=source,
        start=dues.start_month(session, s.dues_start_month, s.timezone),
        timezone=s.timezone,
        rounding=s.dues_rounding,
        award=award,
    )


def _member(session: Session, where: str, who: str, say: Callable[..., str]) -> dues_ledger.Resolved | str:
    """The member meant by a name or a number inside the scope, or the words saying why not."""
    name, number = who, None
    if _NUMBER.match(who):
        number = who.upper()
        found = session.scalar(select(Member.name).where(Member.number == number, Member.active.is_(True)))
        if found is None:
            return say("console_dues_no_number", number=number)
        name = str(found)
    resolved = dues_ledger.resolve_member(session, where, name, number)
    if resolved.member_id is not None:
        return resolved
    if resolved.many:
        return say("console_dues_many", count=len(resolved.many), name=name, numbers="、".join(resolved.many))
    return say("dues_outside" if resolved.outside else "dues_not_found", name=name)


def _refusal(request: web.Request, paid: Paid, name: str, facts: dues.Facts | None) -> str:
    """The chat's words for a refused payment (bot.domain.dues_outcomes)."""
    last = dues.add_months(dues.local_month(clock(request).now(), settings(request).timezone), dues.AHEAD)
    first = facts.first_month if facts is not None else None
    return dues_outcomes.refusal(content(request).text, paid, name, first=first, last=last)


def _tell_member(request: web.Request, session: Session, member_id: int, name: str, paid: Paid) -> None:
    if member_id == user(request).identity.member_id:
        return
    now = clock(request).now()
    add_system_notice(
        session,
        now,
        key=f"dues:paid:{member_id}:{paid.months[0]}:{paid.months[-1]}:{now.isoformat()}",
        text=content(request).text(
            "dues_member_paid_notice", name=name, months=_span(paid.months), total=_yuan(paid.total_fen)
        ),
        member_ids=[member_id],
    )


async def _after(request: web.Request, form: Any, text: str, ok: bool) -> web.StreamResponse:
    session = await get_session(request)
    session[RESULT] = {"text": text, "ok": ok}
    unit, month = str(form.get("unit", "")), str(form.get("month", ""))
    raise web.HTTPSeeOther(_here(unit, month) + "#result")


def _scope_or_none(request: web.Request) -> str | None:
    return scope(user(request).identity, Action.RECORD_DUES)


async def pay(request: web.Request) -> web.StreamResponse:
    where = _scope_or_none(request)
    if where is None:
        return await refuse(request, 403, "console_forbidden")
    form = await request.post()
    say = content(request).text
    who, what = str(form.get("who", "")).strip()[:50], str(form.get("what", "")).strip()[:50]
    if not who or not what:
        return await _after(request, form, say("console_dues_pay_missing"), False)
    months = dues.parse_months(what)
    amount: int | None = None
    if months is None and "-" not in what and "至" not in what:
        try:
            amount = parse_amount_fen(what)
        except ValueError:
            amount = None
    if months is None and amount is None:
        key = "dues_bad_month" if re.search(r"\d{4}\s*[-./年]", what) else "dues_bad_amount"
        return await _after(request, form, say(key, value=what), False)

    def write(session: Session) -> tuple[str, bool]:
        found = _member(session, where, who, say)
        if isinstance(found, str):
            return found, False
        member_id, name = int(found.member_id or 0), found.name
        rec = _recorder(request, session, "console")
        if months is not None:
            paid = dues_ledger.pay_months(session, member_id, months, rec)
        else:
            paid = dues_ledger.pay_amount(session, member_id, int(amount or 0), rec)
        if paid.refusal is not None:
            facts = dues.load_facts(session, [member_id], rec.start)[member_id]
            return _refusal(request, paid, name, facts), False
        if not paid.months:
            return dues_outcomes.amount_only(say, name, int(amount or 0), paid), True
        _tell_member(request, session, member_id, name, paid)
        return dues_outcomes.recorded(say, name, paid), True

    text, ok = await services(request).db.run(write)
    return await _after(request, form, text, ok)


async def confirm(request: web.Request) -> web.StreamResponse:
    where = _scope_or_none(request)
    if where is None:
        return await refuse(request, 403, "console_forbidden")
    form = await request.post()
    say = content(request).text
    number = str(form.get("number", "")).strip()[:50]

    def write(session: Session) -> tuple[str, bool] | None:
        found = _member(session, where, number, say) if _NUMBER.match(number) else None
        if not isinstance(found, dues_ledger.Resolved):
            return None
        member_id, name = int(found.member_id or 0), found.name
        rec = _recorder(request, session, "claim")
        months, paid = dues_ledger.confirm_claims(session, member_id, rec)
        if paid is None:
            return say("dues_confirm_none", name=name), False
        if paid.refusal is not None and paid.refusal != Refusal.ALL_PAID:
            facts = dues.load_facts(session, [member_id], rec.start)[member_id]
            return _refusal(request, paid, name, facts), False
        if paid.months:
            _tell_member(request, session, member_id, name, paid)
        return say("dues_confirmed", name=name, months=_span(months), total=_yuan(paid.total_fen)), True

    done = await services(request).db.run(write)
    if done is None:
        return await refuse(request, 404, "console_not_found")
    return await _after(request, form, *done)


async def return_claim(request: web.Request) -> web.StreamResponse:
    where = _scope_or_none(request)
    if where is None:
        return await refuse(request, 403, "console_forbidden")
    form = await request.post()
    say = content(request).text
    number = str(form.get("number", "")).strip()[:50]
    reason = str(form.get("reason", "")).strip()[:200]
    if not reason:
        return await _after(request, form, say("console_dues_reason_missing"), False)
    now, by = clock(request).now(), user(request).identity.member_id

    def write(session: Session) -> tuple[str, bool] | None:
        found = _member(session, where, number, say) if _NUMBER.match(number) else None
        if not isinstance(found, dues_ledger.Resolved):
            return None
        member_id, name = int(found.member_id or 0), found.name
        months = dues_ledger.return_claims(session, member_id, reason, by=by, now=now)
        if not months:
            return say("dues_confirm_none", name=name), False
        add_system_notice(
            session,
            now,
            key=f"dues:returned:{member_id}:{now.isoformat()}",
            text=say("dues_returned_notice", name=name, months=_span(months), reason=reason),
            member_ids=[member_id],
        )
        return say("dues_returned", name=name, months=_span(months)), True

    done = await services(request).db.run(write)
    if done is None:
        return await refuse(request, 404, "console_not_found")
    return await _after(request, form, *done)


# --- a bank statement: upload → the dry run's row report → confirm ------------------------------------------


async def _import(request: web.Request, kept: uploads.Kept, *, dry_run: bool, load_valid: bool) -> DuesImport:
    s, who = settings(request), user(request)
    return await import_dues(
        services(request).db,
        uploads.read_kept(kept),
        clock(request).now(),
        org=kept.extra.get("org", ""),
        start=s.dues_start_month,
        timezone=s.timezone,
        rounding=s.dues_rounding,
        by_cli=who.actor,
        dry_run=dry_run,
        load_valid=load_valid,
    )


def _done_line(request: web.Request, result: DuesImport, dry_run: bool, load_valid: bool) -> str:
    say = content(request).text
    report = result.report
    money = {"months": result.months, "total": _yuan(result.total_fen), "credit": _yuan(result.credit_fen)}
    if report.errors and not load_valid:
        return say("console_dues_import_blocked", count=len(report.errors))
    if dry_run:
        return say("dues_cli_import_dry_run", **money)
    done = say("dues_cli_import_done", **money)
    if report.errors:
        done = say("dues_cli_import_partial", count=len(result.skipped_rows)) + done
    return done


async def _import_view(request: web.Request, status: int = 200, **context: Any) -> web.Response:
    base: dict[str, Any] = {
        "error": None,
        "error_key": None,
        "result": None,
        "lines": [],
        "token": "",
        "file": "",
        "done": None,
        "expired": False,
    }
    base.update(context)
    return await render(request, "dues_import.html", status=status, **base)


async def import_page(request: web.Request) -> web.StreamResponse:
    where = _scope_or_none(request)
    if where is None:
        return await refuse(request, 403, "console_forbidden")
    token, done = request.query.get("upload", ""), request.query.get("done", "")
    if done:
        found = (await get_session(request)).get(DONE)
        if isinstance(found, dict) and found.get("token") == done:
            return await _import_view(request, done=found)
        return await _import_view(request, expired=True)
    if not token:
        return await _import_view(request)
    kept = await uploads.kept_upload(request, SLOT, token)
    if kept is None:
        return await _import_view(request, expired=True)
    try:
        result = await _import(request, kept, dry_run=True, load_valid=False)
    except ImportFailed as exc:
        await uploads.drop_upload(request, SLOT)
        return await _import_view(request, 400, error=str(exc))
    lines = report_lines(result, _done_line(request, result, True, False))
    return await _import_view(request, result=result, lines=lines, token=kept.token, file=kept.name)


async def import_check(request: web.Request) -> web.StreamResponse:
    where = _scope_or_none(request)
    if where is None:
        return await refuse(request, 403, "console_forbidden")
    form = await request.post()
    try:
        kept = await uploads.keep_upload(request, SLOT, form.get("file"), org=where)
    except uploads.UploadRefused as exc:
        return await _import_view(request, 400, error_key=str(exc))
    try:
        from bot.domain.importing.columns import locate_header

        locate_header(uploads.read_kept(kept), "dues")
    except ImportFailed as exc:
        await uploads.drop_upload(request, SLOT)
        return await _import_view(request, 400, error=str(exc))
    raise web.HTTPSeeOther(f"/console/dues/import?upload={kept.token}")


async def import_confirm(request: web.Request) -> web.StreamResponse:
    where = _scope_or_none(request)
    if where is None:
        return await refuse(request, 403, "console_forbidden")
    form = await request.post()
    kept = await uploads.kept_upload(request, SLOT, str(form.get("token", "")))
    if kept is None or not within(kept.extra.get("org", ""), where):
        return await _import_view(request, 400, expired=True)
    load_valid = form.get("load_valid") == "1"
    try:
        result = await _import(request, kept, dry_run=False, load_valid=load_valid)
    except ImportFailed as exc:
        await uploads.drop_upload(request, SLOT)
        return await _import_view(request, 400, error=str(exc))
    await uploads.drop_upload(request, SLOT)
    line = _done_line(request, result, False, load_valid)
    (await get_session(request))[DONE] = {
        "token": kept.token,
        "file": kept.name,
        "written": result.report.written,
        "summary": line,
        "lines": report_lines(result, line)[:300],
    }
    raise web.HTTPSeeOther(f"/console/dues/import?done={kept.token}")
