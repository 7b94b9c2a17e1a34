"""The month's dues ledger of a subtree, as `partybot dues report` prints or exports it and the console's
党费 page shows and downloads it: each member's amount and how it was worked out, paid or not (when, and
how it was recorded), and consecutive unpaid months. One function builds the rows and one the cells, so the
CLI's workbook and the console's download are the same; the words come from the caller (`say`, a text
lookup over content/), the rule from bot.domain.dues."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain import dues
from bot.domain.dues import Basis
from models import DuesEntry, DuesEntryKind, Member

Say = Callable[..., str]


@dataclass(frozen=True, slots=True)
class ReportRow:
    line: dues.Line
    kind: str
    paid_on: str
    source: str = ""  # how the payment was recorded: chat, import, claim, credit, demo ("" unpaid)


def yuan(fen: int) -> str:
    return f"{fen / 100:.2f}"


def month_rows(
    session: Session, scope_path: str, month: str, *, start: str, rounding: str
) -> tuple[dues.Collection, list[ReportRow]]:
    """The collection (bot.domain.dues.collection) and its rows by unit path and number."""
    found = dues.collection(session, scope_path, month, start=start, rounding=rounding)
    paid = paid_on(session, month)
    kinds = dict(session.execute(select(Member.id, Member.kind)).all()) if found.lines else {}
    rows = [
        ReportRow(
            line,
            str(kinds.get(line.member_id, "")),
            paid.get(line.member_id, ("", ""))[0],
            paid.get(line.member_id, ("", ""))[1],
        )
        for line in sorted(found.lines, key=lambda x: (x.unit_path, x.number))
    ]
    return found, rows


def paid_on(session: Session, month: str) -> dict[int, tuple[str, str]]:
    """When each member's payment for the month was made, and how it was recorded (the latest not
    reversed)."""
    reversed_ids = select(DuesEntry.reverses_id).where(DuesEntry.reverses_id.is_not(None))
    found: dict[int, tuple[str, str]] = {}
    for member_id, day, source in session.execute(
        select(DuesEntry.member_id, DuesEntry.paid_on, DuesEntry.source)
        .where(
            DuesEntry.month == month,
            DuesEntry.kind == DuesEntryKind.PAYMENT.value,
            DuesEntry.id.not_in(reversed_ids),
        )
        .order_by(DuesEntry.id)
    ).all():
        found[int(member_id)] = (f"{day:%Y-%m-%d}" if day is not None else "", str(source))
    return found


def header(texts: dict[str, Any], say: Say) -> list[str]:
    """The columns of the report (content/texts/dues.yaml `dues_cli_report_header`, then 交纳日期)."""
    return [str(v) for v in texts["dues_cli_report_header"]] + [say("dues_cli_paid_on")]


def method(due: dues.Due, kind: str, say: Say) -> str:
    if due.basis in (Basis.EMPLOYED, Basis.RETIRED):
        return f"{yuan(due.base_fen or 0)}×{(due.rate or 0) * 100:.1f}%"
    if due.basis == Basis.ADJUSTED:
        return due.approval_ref or ""
    if due.basis == Basis.NO_BASE:
        return say("dues_view_amount_unknown")
    return kind


def cells(row: ReportRow, say: Say) -> list[Any]:
    line = row.line
    unknown = say("dues_view_amount_unknown")
    amount = yuan(line.due.amount_fen) if line.due.amount_fen is not None else unknown
    state = say("dues_cli_state_paid" if line.paid or line.due.amount_fen == 0 else "dues_cli_state_unpaid")
    return [
        line.number,
        line.name,
        line.unit_path,
        amount,
        state,
        method(line.due, row.kind, say),
        line.run,
        row.paid_on,
    ]
