"""`partybot dues import 流水.csv|xlsx`: a bank statement of 党费 into the ledger. Columns 编号 or 姓名, 月份
(`2026-11` or `2026-09至2026-11`), 金额, optional 日期 and 备注, with the roster import's header spellings
(bot.domain.importing). A row is matched by member number, else by name within `--org`; what does not match
is reported with its row number. Nothing is written when any row fails, unless `load_valid` (then the rows
without errors are); months already recorded are skipped with a warning, so importing a file twice records
nothing twice."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.dues import month_label, parse_months, start_month
from bot.domain.dues_ledger import Recorder, Refusal, pay_months
from bot.domain.importing.columns import locate_header
from bot.domain.importing.messages import ImportFailed, message
from bot.domain.importing.reader import Table, read_table
from bot.domain.importing.report import ImportReport
from bot.domain.importing.rows import RowReader, parse_rows
from bot.domain.importing.values import nfkc, parse_amount_fen
from bot.domain.points import award
from models import Member, OrgUnit
from models.db import Database


@dataclass(frozen=True, slots=True)
class _Row:
    number: str | None
    name: str | None
    months: list[str]
    amount_fen: int
    paid_on: date | None
    note: str


@dataclass(slots=True)
class DuesImport:
    report: ImportReport
    months: int = 0  # member-months recorded (or, in a dry run, that would be)
    total_fen: int = 0
    credit_fen: int = 0
    skipped_rows: list[int] = field(default_factory=list)


class _Rollback(Exception):
    pass


def _parser(latest: date) -> Callable[[RowReader], _Row | None]:
    def parse(r: RowReader) -> _Row | None:
        raw_number = r.raw("编号", limit=50) if r.has("编号") else None  # not required: 姓名 may stand in
        number = nfkc(raw_number) if raw_number else None
        name = r.raw("姓名", limit=50) if r.has("姓名") else None
        if not number and not name:
            r.error(None, "dues.no_member")
        text = r.raw("月份", required=True)
        months = parse_months(nfkc(text)) if text else None
        if text and months is None:
            r.error("月份", "dues.month", value=text)
        amount_text = r.raw("金额", required=True)
        amount: int | None = None
        if amount_text is not None:
            try:
                amount = parse_amount_fen(amount_text)
            except ValueError as exc:
                r.error("金额", str(exc), value=amount_text)
        paid_on = (
            r.date("日期", day_required=True, latest=latest, earliest_year=2000) if r.has("日期") else None
        )
        note = (r.raw("备注", limit=200) or "") if r.has("备注") else ""
        if not r.ok or months is None or amount is None:
            return None
        return _Row(number, name, months, amount, paid_on, note)

    return parse


def _member(session: Session, r: RowReader, row: _Row, org: str) -> int | None:
    from bot.domain.binding import in_scope

    base = select(Member.id, Member.number).join(OrgUnit, OrgUnit.id == Member.unit_id)
    base = base.where(Member.active.is_(True))
    label = org or message("kinds.dues")
    if row.number:
        found = session.execute(base.where(Member.number == row.number)).all()
        if not found:
            r.error("编号", "dues.number_unknown", value=row.number)
            return None
        if org and not session.execute(base.where(Member.number == row.number, in_scope(org))).all():
            r.error("编号", "dues.number_outside", value=row.number, org=org)
            return None
        return int(found[0][0])
    found = session.execute(base.where(Member.name == row.name, in_scope(org)).order_by(Member.number)).all()
    if not found:
        r.error("姓名", "dues.name_unknown", value=row.name, org=org or label)
        return None
    if len(found) > 1:
        numbers = "、".join(str(n) for _, n in found)
        r.error("姓名", "dues.name_many", value=row.name, org=org or label, count=len(found), numbers=numbers)
        return None
    return int(found[0][0])


async def import_dues(
    db: Database,
    source: str | Path | Table,
    now: datetime,
    *,
    org: str = "",
    start: str | None,
    timezone: str,
    rounding: str = "half_up",
    by_cli: str = "",
    dry_run: bool = False,
    load_valid: bool = False,
) -> DuesImport:
    table = source if isinstance(source, Table) else read_table(source)
    table, columns = locate_header(table, "dues")
    if not columns.has("编号") and not columns.has("姓名"):
        raise ImportFailed(message("dues.who_missing", row=table.header_row))
    report = ImportReport(
        kind="dues",
        source=table.source,
        rows=len(table.rows),
        dry_run=dry_run,
        load_valid=load_valid,
        warnings=list(columns.warnings),
    )
    today = now.astimezone(ZoneInfo(timezone)).date()
    parsed = parse_rows(table, columns, report, _parser(today))
    result = DuesImport(report)

    def work(session: Session) -> None:
        if org and session.scalar(select(OrgUnit.id).where(OrgUnit.path == org)) is None:
            raise ImportFailed(message("row.unit_unknown", value=org))
        first = start_month(session, start, timezone)
        for r, row in parsed:
            member_id = _member(session, r, row, org)
            if member_id is None:
                continue
            rec = Recorder(
                by=None,
                now=now,
                source="import",
                start=first,
                timezone=timezone,
                rounding=rounding,
                paid_on=row.paid_on,
                note=(row.note or by_cli)[:200],
                award=award,
            )
            paid = pay_months(session, member_id, row.months, rec, amount_fen=row.amount_fen)
            if paid.refusal == Refusal.ALL_PAID:
                r.warn("月份", "dues.already", months="、".join(month_label(m) for m in paid.already))
                continue
            if paid.refusal is not None:
                _refused(r, paid.refusal, paid.month, paid.needed_fen, row, first)
                continue
            if paid.already:
                r.warn("月份", "dues.already", months="、".join(month_label(m) for m in paid.already))
            result.months += len(paid.months)
            result.total_fen += paid.total_fen
            result.credit_fen += max(0, row.amount_fen - paid.total_fen)
        report.errors.sort(key=lambda issue: issue.row or 0)
        result.skipped_rows = sorted({i.row for i in report.errors if i.row is not None})
        report.written = not dry_run and (load_valid or not report.errors)
        if not report.written:
            raise _Rollback

    with contextlib.suppress(_Rollback):
        await db.run(work)
    report.warnings.sort(key=lambda issue: issue.row or 0)
    return result


def _refused(r: RowReader, refusal: Refusal, month: str | None, needed: int, row: _Row, first: str) -> None:
    label = month_label(month) if month else ""
    if refusal == Refusal.BEFORE_START:
        r.error("月份", "dues.before_start", month=label, first=month_label(first))
    elif refusal == Refusal.TOO_FAR:
        r.error("月份", "dues.too_far", month=label)
    elif refusal == Refusal.NO_BASE:
        r.error("月份", "dues.no_base", month=label)
    else:
        r.error("金额", "dues.too_little", amount=f"{row.amount_fen / 100:.2f}", needed=f"{needed / 100:.2f}")


def report_lines(result: DuesImport, done: str) -> list[str]:
    """The report a secretary reads: title, warnings, errors (with row numbers), and `done`, the last line."""
    report = result.report
    title = "report.title_dry_run" if report.dry_run else "report.title"
    out = [message(title, kind=message("kinds.dues"), file=report.source, rows=report.rows)]
    for key, issues in (("report.warnings", report.warnings), ("report.errors", report.errors)):
        if issues:
            out.append(message(key, count=len(issues)))
            out += [f"  {issue}" for issue in issues]
    out.append(done)
    return out
