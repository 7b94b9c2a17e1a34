"""党费 rules and the ledger, without chat: every bracket edge of the 2008 standards (the rate on the whole
base), retirees' brackets on the pension, the fixed kinds and the branch's amount for farmers, rounding, a
probationary member approved mid-month, a base change mid-year (from the next month), reductions and waivers,
paying months or an amount (oldest first, the rest kept as credit), corrections by reversal, 已交 claims, the
dues start month, and a subtree's collection."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.domain import dues, dues_ledger
from bot.domain.dues import Basis, Facts, bracket_amount, due_for, parse_months, standard_for
from bot.domain.dues_ledger import Recorder, Refusal
from bot.domain.points import award
from models import DuesEntry, Member, PointEntry
from models.db import Database
from tests.community import BRANCH1, COMMUNITY, seed

NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)  # tests.conftest.T0: Beijing 2026-11-21 10:00
TZ = "Asia/Shanghai"


def facts(kind: str = "在职", base: int | None = None, first: str = "2026-01", **kw: object) -> Facts:
    return Facts(1, kind, 1, first, base, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("base_yuan", "due_yuan", "rate"),
    [
        ("0.01", "0.00", "0.005"),
        ("2999.99", "15.00", "0.005"),
        ("3000.00", "15.00", "0.005"),
        ("3000.01", "30.00", "0.01"),
        ("5000.00", "50.00", "0.01"),
        ("5000.01", "75.00", "0.015"),
        ("10000.00", "150.00", "0.015"),
        ("10000.01", "200.00", "0.02"),
        ("8600.00", "129.00", "0.015"),
    ],
)
def test_employed_brackets_apply_the_rate_to_the_whole_base(base_yuan: str, due_yuan: str, rate: str) -> None:
    due = due_for(facts("在职", int(Decimal(base_yuan) * 100)), "2026-11")
    assert due is not None and due.basis == Basis.EMPLOYED
    assert due.amount_fen == int(Decimal(due_yuan) * 100) and due.rate == Decimal(rate)


@pytest.mark.parametrize("kind", ["流动", "两新"])
def test_mobile_and_new_organisation_members_pay_on_the_employed_brackets(kind: str) -> None:
    due = due_for(facts(kind, 500001), "2026-11")
    assert due is not None and (due.amount_fen, due.basis) == (7500, Basis.EMPLOYED)


@pytest.mark.parametrize(
    ("pension_fen", "due_fen"), [(300001, 1500), (500000, 2500), (500001, 5000), (1000001, 10000)]
)
def test_retirees_brackets_are_on_the_pension(pension_fen: int, due_fen: int) -> None:
    due = due_for(facts("离退休", pension_fen), "2026-11")
    assert due is not None and (due.amount_fen, due.basis, due.base_fen) == (
        due_fen,
        Basis.RETIRED,
        pension_fen,
    )


@pytest.mark.parametrize("kind", ["学生", "无业", "低保"])
def test_students_unemployed_and_relief_recipients_pay_20_fen_whatever_the_base(kind: str) -> None:
    for base in (None, 900000):
        due = due_for(facts(kind, base), "2026-11")
        assert due is not None and (due.amount_fen, due.basis) == (20, Basis.FIXED)


def test_farmers_pay_what_the_branch_sets_within_0_20_to_1_00() -> None:
    due = due_for(facts("农民"), "2026-11")
    assert due is not None and (due.amount_fen, due.basis) == (20, Basis.BRANCH)  # the default
    set_half = facts("农民", branch_rates=[("2026-12", 50)])
    assert due_for(set_half, "2026-11").amount_fen == 20  # type: ignore[union-attr]
    assert due_for(set_half, "2026-12").amount_fen == 50  # type: ignore[union-attr]
    assert due_for(facts("农民", branch_rates=[("2026-01", 500)]), "2026-11").amount_fen == 100  # type: ignore[union-attr]


def test_rounding_to_the_fen_is_a_setting() -> None:
    brackets = standard_for("2026-11").employed
    # 3333.33 × 1 % = 33.3333; 3100.50 × 1 % = 31.005
    assert bracket_amount(333333, brackets)[0] == 3333
    assert bracket_amount(310050, brackets, "half_up")[0] == 3101
    assert bracket_amount(310050, brackets, "half_even")[0] == 3100
    assert bracket_amount(310050, brackets, "down")[0] == 3100
    assert bracket_amount(310001, brackets, "up")[0] == 3101


def test_the_standard_in_force_comes_from_content_with_its_date() -> None:
    assert standard_for("2008-04").effective == date(2008, 4, 1)
    with pytest.raises(ValueError, match="no standard"):
        standard_for("2008-03")


def test_no_base_means_the_amount_is_unknown_and_nothing_is_owed_before_the_first_month() -> None:
    assert due_for(facts("在职"), "2026-11") == dues.Due("2026-11", None, Basis.NO_BASE)
    assert due_for(facts("在职", 400000, first="2026-11"), "2026-10") is None


def test_a_base_change_applies_from_its_month_and_a_reduction_wins_for_its_months() -> None:
    f = facts(
        "在职",
        400000,
        bases=[("2026-07", 860000)],
        adjustments=[("2026-09", "2026-10", 0, "街党工委〔2026〕5号")],
    )
    assert due_for(f, "2026-06").amount_fen == 4000  # type: ignore[union-attr]  # the roster's base
    assert due_for(f, "2026-07").amount_fen == 12900  # type: ignore[union-attr]
    waived = due_for(f, "2026-09")
    assert waived is not None and (waived.amount_fen, waived.basis, waived.approval_ref) == (
        0,
        Basis.ADJUSTED,
        "街党工委〔2026〕5号",
    )
    assert due_for(f, "2026-11").amount_fen == 12900  # type: ignore[union-attr]


def test_months_are_read_in_the_usual_spellings_and_bad_ones_refused() -> None:
    assert parse_months("2026-11") == ["2026-11"]
    assert parse_months("2026年9月") == ["2026-09"]
    assert parse_months("2026-09至2026-11") == ["2026-09", "2026-10", "2026-11"]
    assert parse_months("2026-11至2027-01") == ["2026-11", "2026-12", "2027-01"]
    for bad in ("2026-13", "2026-11至2026-09", "十一月", "2026", "2020-01至2026-01"):
        assert parse_months(bad) is None, bad


# --- with the database ---------------------------------------------------------------------------------


def rec(start: str = "2026-01", now: datetime = NOW, by: int | None = None, source: str = "chat") -> Recorder:
    return Recorder(by=by, now=now, source=source, start=start, timezone=TZ, award=award)


async def prepare(database_url: str) -> tuple[Database, dict[str, int]]:
    db = Database(database_url)
    community = await seed(db)

    def write(session: Session) -> None:
        # 王秀兰 (YX-004): retired, pension 3100.00 → 15.50 a month;
        # 刘洋 (YX-013): employed, 8600.00 → 129.00.
        session.execute(update(Member).where(Member.number == "YX-004").values(dues_base_fen=310000))
        session.execute(update(Member).where(Member.number == "YX-013").values(dues_base_fen=860000))

    await db.run(write)
    return db, community.ids


async def test_the_dues_start_month_is_the_first_roster_import_unless_set(database_url: str) -> None:
    db, _ = await prepare(database_url)
    async with db.read() as session:
        assert await session.run_sync(partial(dues.start_month, start=None, timezone=TZ)) == "2026-11"
        assert await session.run_sync(partial(dues.start_month, start="2026-01", timezone=TZ)) == "2026-01"
    await db.dispose()


async def test_a_probationary_member_owes_from_the_month_they_were_approved(database_url: str) -> None:
    db, ids = await prepare(database_url)

    def write(session: Session) -> dues.Standing:
        member = session.get(Member, ids["YX-013"])
        assert member is not None
        member.status, member.joined_on = "预备", date(2026, 9, 17)
        session.flush()
        return dues.standing(session, ids["YX-013"], NOW, start="2026-01", timezone=TZ, rounding="half_up")

    found = await db.run(write)
    # Approved on 17 September: September is due, August and before are not.
    assert [d.month for d in found.arrears] == ["2026-09", "2026-10"] and found.arrears_fen == 25800
    assert found.due is not None and found.due.amount_fen == 12900 and not found.paid_this_month
    await db.dispose()


async def test_months_paid_and_an_amount_paying_the_oldest_months_with_the_rest_as_credit(
    database_url: str,
) -> None:
    db, ids = await prepare(database_url)
    wang = ids["YX-004"]

    def write(session: Session) -> tuple[dues_ledger.Paid, ...]:
        first = dues_ledger.pay_months(session, wang, ["2026-09", "2026-10"], rec())
        again = dues_ledger.pay_months(session, wang, ["2026-10"], rec())
        amount = dues_ledger.pay_amount(session, wang, 4650, rec())  # 46.50: Jan, Feb, Mar at 15.50
        more = dues_ledger.pay_amount(session, wang, 2000, rec())  # + nothing kept: Apr 15.50, 4.50 credit
        return first, again, amount, more

    first, again, amount, more = await db.run(write)
    assert (first.months, first.total_fen) == (["2026-09", "2026-10"], 3100)
    assert again.refusal == Refusal.ALL_PAID and again.already == ["2026-10"]
    assert amount.months == ["2026-01", "2026-02", "2026-03"] and amount.credit_fen == 0
    assert more.months == ["2026-04"] and more.credit_fen == 450

    def read(session: Session) -> tuple[dues.Standing, int]:
        points = session.scalar(
            select(func.count()).select_from(PointEntry).where(PointEntry.reason == "dues")
        )
        return dues.standing(session, wang, NOW, start="2026-01", timezone=TZ, rounding="half_up"), int(
            points or 0
        )

    standing, points = await db.run(read)
    assert standing.paid_this_year == ["2026-01", "2026-02", "2026-03", "2026-04", "2026-09", "2026-10"]
    assert [d.month for d in standing.arrears] == ["2026-05", "2026-06", "2026-07", "2026-08"]
    assert standing.arrears_fen == 6200 and standing.credit_fen == 450 and points == 6
    await db.dispose()


async def test_refusals_before_the_start_too_far_ahead_without_a_base_and_too_little(
    database_url: str,
) -> None:
    db, ids = await prepare(database_url)

    def write(session: Session) -> list[dues_ledger.Paid]:
        return [
            dues_ledger.pay_months(session, ids["YX-004"], ["2025-12"], rec()),
            dues_ledger.pay_months(session, ids["YX-004"], ["2027-12"], rec()),
            dues_ledger.pay_months(session, ids["YX-009"], ["2026-11"], rec()),  # no base declared
            dues_ledger.pay_months(session, ids["YX-004"], ["2026-10", "2026-11"], rec(), amount_fen=3000),
            dues_ledger.pay_amount(session, ids["YX-004"], 1000, rec()),
        ]

    before, far, no_base, little, small = await db.run(write)
    assert (before.refusal, before.month) == (Refusal.BEFORE_START, "2025-12")
    assert (far.refusal, far.month) == (Refusal.TOO_FAR, "2027-12")
    assert (no_base.refusal, no_base.month) == (Refusal.NO_BASE, "2026-11")
    assert (little.refusal, little.needed_fen) == (Refusal.TOO_LITTLE, 3100)
    # 10.00 pays no whole month: kept as credit.
    assert small.months == [] and small.credit_fen == 1000
    await db.dispose()


async def test_a_correction_is_a_new_row_reversing_the_payment_and_the_ledger_keeps_both(
    database_url: str,
) -> None:
    db, ids = await prepare(database_url)
    wang, lin = ids["YX-004"], ids["YX-002"]

    def write(session: Session) -> tuple[bool, bool, dues.Standing]:
        dues_ledger.pay_months(session, wang, ["2026-11"], rec(by=lin))
        done = dues_ledger.reverse_month(session, wang, "2026-11", rec(by=lin))
        twice = dues_ledger.reverse_month(session, wang, "2026-11", rec(by=lin))
        return (
            done,
            twice,
            dues.standing(session, wang, NOW, start="2026-11", timezone=TZ, rounding="half_up"),
        )

    done, twice, standing = await db.run(write)
    assert done and not twice and not standing.paid_this_month
    async with db.read() as session:
        rows = (
            await session.execute(select(DuesEntry.kind, DuesEntry.amount_fen, DuesEntry.recorded_by))
        ).all()
    assert sorted((k, a, b) for k, a, b in rows) == [("payment", 1550, lin), ("reversal", -1550, lin)]
    await db.dispose()


async def test_a_declared_base_applies_from_the_next_month(database_url: str) -> None:
    db, ids = await prepare(database_url)
    wang = ids["YX-004"]

    def write(session: Session) -> tuple[str, str, dues.Standing]:
        applies = dues_ledger.declare_base(session, wang, 520000, NOW, by=wang, source="member", timezone=TZ)
        fresh = dues_ledger.declare_base(
            session, ids["YX-009"], 200000, NOW, by=None, source="member", timezone=TZ
        )
        return (
            applies,
            fresh,
            dues.standing(session, wang, NOW, start="2026-11", timezone=TZ, rounding="half_up"),
        )

    applies, fresh, standing = await db.run(write)
    assert applies == "2026-12" and fresh == "2026-11"  # none known before: from this month
    assert standing.due is not None and standing.due.amount_fen == 1550

    def december(session: Session) -> dues.Due | None:
        f = dues.load_facts(session, [wang], "2026-11")[wang]
        return dues.due_for(f, "2026-12")

    due = await db.run(december)
    assert due is not None and due.amount_fen == 5200  # 5200.00 pension > 5000 → 1 %
    await db.dispose()


async def test_claims_wait_for_the_secretary_who_confirms_or_returns_them(database_url: str) -> None:
    db, ids = await prepare(database_url)
    wang, zheng, lin = ids["YX-004"], ids["YX-013"], ids["YX-002"]

    def write(session: Session) -> tuple[list[str], dues_ledger.Paid | None, list[str], dues.Standing]:
        dues_ledger.claim(session, wang, 1, ["2026-10", "2026-11"], NOW)
        dues_ledger.claim(session, zheng, 1, ["2026-11"], NOW)
        months, paid = dues_ledger.confirm_claims(session, wang, rec(start="2026-10", by=lin))
        returned = dues_ledger.return_claims(session, zheng, "未收到转账", by=lin, now=NOW)
        return (
            months,
            paid,
            returned,
            dues.standing(session, wang, NOW, start="2026-10", timezone=TZ, rounding="half_up"),
        )

    months, paid, returned, standing = await db.run(write)
    assert months == ["2026-10", "2026-11"] and paid is not None and paid.total_fen == 3100
    assert returned == ["2026-11"] and standing.paid_this_month and standing.pending == []
    await db.dispose()


async def test_a_subtree_collection_by_headcount_with_the_amounts_and_arrears_runs(database_url: str) -> None:
    db, ids = await prepare(database_url)

    def write(session: Session) -> dues.Collection:
        dues_ledger.pay_months(session, ids["YX-004"], ["2026-11"], rec(start="2026-05"))
        dues_ledger.add_adjustment(
            session, ids["YX-009"], ["2026-05", "2026-12"], 0, "免交〔2026〕1号", by=None, now=NOW
        )
        return dues.collection(session, BRANCH1, "2026-11", start="2026-05", rounding="half_up")

    found = await db.run(write)
    names = {line.name for line in found.lines}
    assert names == {"林晓梅", "王秀兰", "孙丽娟", "李文博", "郑国平"}  # the branch and its group
    assert {line.name for line in found.due} == names - {"郑国平"}  # waived
    assert [line.name for line in found.paid] == ["王秀兰"] and found.paid_fen == 1550
    assert {line.name for line in found.behind(6)} == names - {"郑国平"}  # May–October unpaid
    assert COMMUNITY not in {line.unit_path for line in found.lines}
    await db.dispose()


def test_the_dues_settings_are_checked_at_start_up() -> None:
    from pydantic import ValidationError

    from bot.settings import Settings

    def make(**values: str) -> Settings:
        return Settings(_env_file=None, wechat_token="abc", **values)  # type: ignore[call-arg, arg-type]

    assert make(dues_start_month="2026-1").dues_start_month == "2026-01"
    assert make(dues_rounding="HALF_EVEN").dues_rounding == "half_even"
    with pytest.raises(ValidationError, match="is not a month"):
        make(dues_start_month="2026-13")
    with pytest.raises(ValidationError, match="half_up, half_even, down, up"):
        make(dues_rounding="nearest")


async def test_a_roster_re_imported_with_a_new_base_keeps_the_old_one_for_the_months_before(
    database_url: str, tmp_path: Path
) -> None:
    from importlib import resources

    from bot.domain.importing import import_members, import_org
    from bot.domain.privacy import Vault
    from tests.conftest import DATA_KEY

    db = Database(database_url)
    files = Path(str(resources.files("content"))) / "demo"
    await import_org(db, files / "org.csv", now=NOW)
    assert (await import_members(db, Vault(DATA_KEY), files / "roster.csv", now=NOW)).written
    changed = tmp_path / "roster.csv"
    text = (files / "roster.csv").read_text(encoding="utf-8")
    assert ",3100," in text
    changed.write_text(text.replace(",3100,", ",5200,"), encoding="utf-8")  # 王秀兰's pension
    later = datetime(2027, 3, 10, 2, 0, tzinfo=UTC)
    assert (await import_members(db, Vault(DATA_KEY), changed, now=later)).written

    def read(session: Session) -> list[int | None]:
        wang = session.scalar(select(Member.id).where(Member.number == "YX-004"))
        assert wang is not None
        f = dues.load_facts(session, [wang], "2026-11")[wang]
        return [d.amount_fen if (d := due_for(f, m)) else None for m in ("2026-11", "2027-03", "2027-04")]

    assert await db.run(read) == [1550, 1550, 5200]
    await db.dispose()
