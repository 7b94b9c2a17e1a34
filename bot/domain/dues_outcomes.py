"""What recording 党费 did, or why it was refused, in words: the chat's `收党费`/`党费确认` answers and the
console's 党费 page say the same thing. The words come from content/texts/dues.yaml through the caller's `say`
(a text lookup); the outcome is bot.domain.dues_ledger's Paid."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from bot.domain.dues import month_label
from bot.domain.dues_ledger import Paid, Refusal

Say = Callable[..., str]


def yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:.2f}"


def span(months: list[str]) -> str:
    """`2026年11月`, or `2026年9月至2026年11月` for several."""
    if not months:
        return ""
    return (
        month_label(months[0]) if len(months) == 1 else f"{month_label(months[0])}至{month_label(months[-1])}"
    )


def refusal(say: Say, paid: Paid, name: str, *, first: str | None, last: str) -> str:
    """Why nothing was recorded: `first` is the member's first month owing, `last` the last month that may be
    paid ahead (both "2026-11")."""
    month = month_label(paid.month) if paid.month else ""
    if paid.refusal == Refusal.BEFORE_START:
        return say(
            "dues_refused_before_start", month=month, name=name, first=month_label(first) if first else ""
        )
    if paid.refusal == Refusal.TOO_FAR:
        return say("dues_refused_too_far", month=month, last=month_label(last))
    if paid.refusal == Refusal.NO_BASE:
        return say("dues_refused_no_base", name=name, month=month)
    if paid.refusal == Refusal.ALL_PAID:
        return say("dues_refused_all_paid", name=name, months=span(paid.already))
    return say("dues_bad_amount", value=yuan(paid.needed_fen))


def recorded(say: Say, name: str, paid: Paid) -> str:
    """What a payment recorded: its months and total, the months left alone, the credit kept."""
    credit = say("dues_paid_credit", credit=yuan(paid.credit_fen)) if paid.credit_fen > 0 else ""
    if paid.already:
        credit = say("dues_paid_already", months=span(paid.already)) + credit
    return say("dues_paid", name=name, months=span(paid.months), total=yuan(paid.total_fen), credit=credit)


def amount_only(say: Say, name: str, amount_fen: int, paid: Paid) -> str:
    """An amount that paid no month: nothing owed (all credit), or less than the oldest month owed."""
    if not paid.next_fen:
        return say("dues_refused_nothing_due", name=name, amount=yuan(amount_fen))
    return say("dues_paid_nothing", name=name, amount=yuan(amount_fen), due=yuan(paid.next_fen))
